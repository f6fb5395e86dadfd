"""Per-task changes to chosen encoder weights, applied for one forward pass without touching the encoder.

Soft and attention-gated sharing both give task k its own value of some encoder weights, W_k = W + s_k * D_k. The
deltas live here; the forward pass swaps the weights in with ``torch.func.functional_call``, so the encoder module and
its saved weights stay those of the shared model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from mtl_nlp.sharing.layers import key


class DenseDelta(nn.Module):
    """A full-size delta: W + D is a complete per-task copy of W, starting equal to it."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(shape))

    def forward(self) -> torch.Tensor:
        return self.delta


class LowRankDelta(nn.Module):
    """D = B A * alpha / r, initialised as PEFT's LoRA (A Kaiming-uniform, B zero), so training starts from W."""

    def __init__(self, shape: torch.Size, r: int, alpha: float) -> None:
        super().__init__()
        out_features, in_features = shape
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r

    def forward(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling


class TaskDeltas(nn.Module):
    """One delta per task for each chosen encoder parameter."""

    def __init__(self, shapes: dict[str, torch.Size], tasks: list[str], make: Callable[[torch.Size], nn.Module]) -> None:
        super().__init__()
        self.names = list(shapes)
        self.per_task = nn.ModuleDict({t: nn.ModuleDict({key(n): make(s) for n, s in shapes.items()}) for t in tasks})

    def delta(self, task: str, name: str) -> torch.Tensor:
        return self.per_task[task][key(name)]()

    def all_deltas(self, name: str) -> torch.Tensor:
        """[tasks, *shape]: every task's delta of one parameter."""
        return torch.stack([deltas[key(name)]() for deltas in self.per_task.values()])


def run_with(encoder: nn.Module, weights: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor], **options) -> object:
    """The encoder's output with ``weights`` in place of its parameters of those names (the rest as they are)."""
    return functional_call(encoder, weights, args=(), kwargs={**inputs, **options}, strict=False)


def pairwise_distance(deltas: torch.Tensor) -> torch.Tensor:
    """sum over i<j of ||D_i - D_j||^2, in time linear in the number of tasks: K * sum ||D_i||^2 - ||sum D_i||^2.

    Shared weights cancel in every difference, so the distance between task copies W + D_k is that of their deltas.
    """
    flat = deltas.reshape(deltas.shape[0], -1)
    return flat.shape[0] * flat.pow(2).sum() - flat.sum(0).pow(2).sum()
