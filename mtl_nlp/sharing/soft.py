"""Soft sharing (article 4.2): each task owns a copy of the chosen encoder weights, pulled together by
lambda * sum_{i<j} ||Theta_i - Theta_j||^2.

The copy is either full (``copy: full``: a full-size delta per task, Theta_k = W0 + D_k) or low-rank
(``copy: lora``: Theta_k = W0 + B_k A_k, far less memory). W0, the pretrained value of the copied weights, is frozen:
it is only the common starting point, so the copies are the tasks' own parameters. Weights not chosen stay hard-shared.
With lambda large the copies stay equal (hard sharing of those weights); with lambda = 0 they are separate models'.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.sharing.deltas import DenseDelta, LowRankDelta, TaskDeltas, pairwise_distance, run_with
from mtl_nlp.sharing.layers import chosen_parameters


class SoftSharing(nn.Module):
    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        full = settings.copy == "full"
        chosen = chosen_parameters(encoder, settings.layers, None if full else settings.target_modules)
        shapes = {name: p.shape for name, p in chosen.items()}
        make = DenseDelta if full else (lambda shape: LowRankDelta(shape, settings.r, settings.lora_alpha))
        self.deltas = TaskDeltas(shapes, tasks, make)
        self.penalty_weight = settings.penalty_weight
        self.freeze(encoder)

    def freeze(self, encoder: nn.Module) -> None:
        for name in self.deltas.names:
            encoder.get_parameter(name).requires_grad_(False)

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = {name: encoder.get_parameter(name) + self.deltas.delta(task, name) for name in self.deltas.names}
        return run_with(encoder, weights, inputs).last_hidden_state

    def distance(self) -> torch.Tensor:
        """sum_{i<j} ||Theta_i - Theta_j||^2 over every copied weight."""
        return sum(pairwise_distance(self.deltas.all_deltas(name)) for name in self.deltas.names)

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task sees its own weights, so each needs its own pass."""
        return {task: self.encode(encoder, task, inputs) for task in tasks}

    def penalty(self) -> torch.Tensor | None:
        return self.penalty_weight * self.distance() if self.penalty_weight else None

    @torch.no_grad()
    def report(self) -> dict[str, float]:
        return {"sharing/pairwise_distance": float(self.distance())}

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        return None
