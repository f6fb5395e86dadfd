"""The tasks' gradients on the shared parameters: combined by sum or by PCGrad, and compared by cosine similarity.

A parameter is *shared* when more than one task's loss reached it in the step (the encoder under hard sharing, the
base weights under soft or attention sharing); a head, adapter or task copy gets only its own task's gradient and
is left as it is. Nothing here knows the sharing strategy.

PCGrad (Yu et al. 2020): each task's gradient g_i is projected, in random order of the others, onto the normal plane
of every g_j it conflicts with (g_i·g_j < 0): g_i ← g_i − (g_i·g_j / ‖g_j‖²) g_j; the step uses the sum. It needs
every task's gradient in the same optimiser step (``sampling.type: every_task``). It runs on one process: DDP
averages gradients in the step's last backward pass only, after the other tasks' were collected locally.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from torch import nn


def pcgrad(grads: list[torch.Tensor], rng: random.Random) -> tuple[torch.Tensor, int]:
    """(sum of the projected gradients, number of conflicting pairs met) for flat task gradients."""
    projected, conflicts = [], 0
    for i, g in enumerate(grads):
        g = g.clone()
        others = [j for j in range(len(grads)) if j != i]
        rng.shuffle(others)
        for j in others:
            dot = torch.dot(g, grads[j])
            if dot < 0:
                g -= dot / grads[j].pow(2).sum().clamp(min=1e-20) * grads[j]
                conflicts += 1
        projected.append(g)
    return torch.stack(projected).sum(0), conflicts


def cosine_matrix(grads: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Pairwise cosine similarity of flat task gradients, {task: {task: cos}}."""
    names = list(grads)
    stacked = torch.stack([grads[n].float() for n in names])
    unit = stacked / stacked.norm(dim=1, keepdim=True).clamp(min=1e-20)
    values = (unit @ unit.T).tolist()
    return {a: {b: round(values[i][j], 4) for j, b in enumerate(names)} for i, a in enumerate(names)}


class TaskGradients:
    """Collects each task's gradient after its backward pass (then clears ``.grad``), and writes back the combined
    gradient at the optimiser step: the sum, or PCGrad's projected sum on the shared parameters."""

    def __init__(self, model: nn.Module, kind: str = "sum", seed: int = 0) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.kind, self.rng = kind, random.Random(seed)
        self.grads: dict[str, list[torch.Tensor | None]] = {}
        self.conflicts = 0

    @property
    def active(self) -> bool:
        return self.kind == "pcgrad"

    def state_dict(self) -> dict:
        """Between optimiser steps nothing is held but the projection order's random state and the count."""
        return {"rng": self.rng.getstate(), "conflicts": self.conflicts}

    def load_state_dict(self, state: dict) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.conflicts = state["conflicts"]

    def collect(self, task: str) -> None:
        """Move the parameters' current gradients into ``task``'s share (adding to what it already holds)."""
        held = self.grads.setdefault(task, [None] * len(self.params))
        for k, p in enumerate(self.params):
            if p.grad is not None:
                held[k] = p.grad.detach().clone() if held[k] is None else held[k] + p.grad
                p.grad = None

    def shared_indices(self) -> list[int]:
        return [k for k in range(len(self.params)) if sum(g[k] is not None for g in self.grads.values()) > 1]

    def flat(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Each task's gradient over ``indices``, flattened (zeros where the task did not reach a parameter)."""
        return {t: torch.cat([(g[k] if g[k] is not None else torch.zeros_like(self.params[k])).reshape(-1) for k in indices])
                for t, g in self.grads.items()}

    def write_back(self) -> None:
        """Set ``.grad`` to the combination of the collected gradients and forget them."""
        shared = self.shared_indices()
        projected = set(shared) if self.kind == "pcgrad" else set()
        if projected:
            combined, conflicts = pcgrad(list(self.flat(shared).values()), self.rng)
            self.conflicts += conflicts
            offset = 0
            for k in shared:
                n = self.params[k].numel()
                self.params[k].grad = combined[offset : offset + n].view_as(self.params[k]).to(self.params[k].dtype)
                offset += n
        for k, p in enumerate(self.params):
            if k in projected:
                continue
            parts = [g[k] for g in self.grads.values() if g[k] is not None]
            p.grad = torch.stack(parts).sum(0) if parts else None
        self.grads = {}


def probe_cosines(model: nn.Module, losses: dict[str, Callable[[], torch.Tensor]]) -> dict[str, dict[str, float]]:
    """Cosine similarity of the tasks' gradients on the shared parameters, each from ``losses[task]()``; the
    model's ``.grad`` are left empty and the random state as it was, so training goes on as if nothing ran."""
    probe = TaskGradients(model)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        for task, loss in losses.items():
            loss().backward()
            probe.collect(task)
    return cosine_matrix(probe.flat(probe.shared_indices()))
