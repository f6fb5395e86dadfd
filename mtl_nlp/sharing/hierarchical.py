"""Hierarchical sharing (article 3.2 and 4.3): each task reads the encoder layer the run names for it, so low-level
tasks (tagging) are supervised low in the stack and high-level ones (sentence labels) at the top.

A batch whose task reads layer k runs only layers 1..k: nothing above it is computed.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.sharing.layers import check_layers, layer_stack


class HierarchicalSharing(nn.Module):
    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        self.stack_name, stack = layer_stack(encoder)
        self.depth = len(stack)
        for task, number in settings.task_layers.items():
            check_layers([number], len(stack), f"sharing.task_layers.{task}")
        self.task_layers = {t: settings.task_layers.get(t, len(stack)) for t in tasks}

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._run(encoder, self.task_layers[task], inputs).last_hidden_state

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One pass up to the highest layer any of the tasks reads; each takes its own layer's output."""
        out = self._run(encoder, max(self.task_layers[t] for t in tasks), inputs, output_hidden_states=True)
        return {task: out.hidden_states[self.task_layers[task]] for task in tasks}

    def _run(self, encoder: nn.Module, depth: int, inputs: dict[str, torch.Tensor], **options):
        if depth == self.depth:
            return encoder(**inputs, **options)
        stack = encoder.get_submodule(self.stack_name)
        parent_name, _, attribute = self.stack_name.rpartition(".")
        parent = encoder.get_submodule(parent_name)
        # The encoder loops over its ModuleList: lend it the first `depth` layers for this pass, then put all back.
        setattr(parent, attribute, nn.ModuleList(stack[:depth]))
        try:
            return encoder(**inputs, **options)
        finally:
            setattr(parent, attribute, stack)

    def freeze(self, encoder: nn.Module) -> None:
        return None

    def penalty(self) -> torch.Tensor | None:
        return None

    def report(self) -> dict[str, float]:
        return {}

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        return None
