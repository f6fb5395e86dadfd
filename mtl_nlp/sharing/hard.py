"""Hard sharing (article 4.1): every task reads the same encoder; only the heads are task-specific."""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.config import SharingConfig


class HardSharing(nn.Module):
    """The default: one encoder, unchanged, for every task."""

    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return encoder(**inputs).last_hidden_state

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One pass serves every task."""
        hidden = encoder(**inputs).last_hidden_state
        return dict.fromkeys(tasks, hidden)

    def freeze(self, encoder: nn.Module) -> None:
        return None

    def penalty(self) -> torch.Tensor | None:
        return None

    def report(self) -> dict[str, float]:
        return {}

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        return None
