"""Sharing strategies (mission article 3.2 and 4.1-4.4): how the tasks share the encoder.

Each strategy is an ``nn.Module`` that the model owns as ``model.sharing``, so its parameters (adapters, task copies,
gates) are saved and loaded with the model's own weights. The model, trainer, evaluation and predictor only call the
:class:`Sharing` methods; none of them looks at a strategy's name.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.sharing.attention import AttentionSharing
from mtl_nlp.sharing.hard import HardSharing
from mtl_nlp.sharing.hierarchical import HierarchicalSharing
from mtl_nlp.sharing.lora import LoraSharing
from mtl_nlp.sharing.soft import SoftSharing


class Sharing(Protocol):
    """What the model needs from a strategy, built as ``cls(settings, encoder, task_names)``."""

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The hidden states ``task``'s head reads, with the encoder prepared for that task."""

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task's hidden states for the same inputs, in as few encoder passes as the strategy allows."""

    def freeze(self, encoder: nn.Module) -> None:
        """Fix the encoder parameters the strategy keeps frozen (again after loading, which puts new ones in place)."""

    def penalty(self) -> torch.Tensor | None:
        """A term added to every step's loss (the strategy's regulariser), or None."""

    def report(self) -> dict[str, float]:
        """Values worth logging during training (gates, distances); empty where there are none."""

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        """Write any parts that have a format of their own (PEFT adapters) beside the model's weights."""


SHARING: dict[str, type] = {
    "hard": HardSharing,
    "lora": LoraSharing,
    "soft": SoftSharing,
    "hierarchical": HierarchicalSharing,
    "attention": AttentionSharing,
}


def build_sharing(settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> nn.Module:
    """The strategy ``settings.type`` names, set up on ``encoder`` for ``tasks`` (config validation checked the name)."""
    return SHARING[settings.type](settings, encoder, tasks)


__all__ = ["SHARING", "Sharing", "build_sharing"]
