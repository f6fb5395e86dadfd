"""How much each task's loss counts: fixed weights, learned uncertainty, or dynamic weight average.

Batches hold one task each, so every method weights the loss of the batch's task:

- ``static``: L = w_t · L_t (w_t from ``weighting.weights``, default 1).
- ``uncertainty`` (Kendall et al. 2018, in LibMTL's form): L = L_t / (2·exp(s_t)) + s_t / 2, with one learned
  log-variance s_t = log σ_t² per task, trained with the heads' learning rate. A task with noisier loss gets a
  larger σ_t and so a smaller weight 1 / (2σ_t²).
- ``dwa`` (Liu et al. 2019): w_t = K·exp(r_t / T) / Σ_k exp(r_k / T), r_t = L̄_t(p−1) / L̄_t(p−2), where L̄_t(p) is
  task t's mean training loss over period p of ``period`` optimiser steps (the paper's epoch). Weights are 1 until
  every task has two finished periods.

Each method reports its current weights (``weights()``) for the trackers and metrics.json, and keeps its state in
``state_dict()`` so a resumed run continues it.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import nn

from mtl_nlp.config import WeightingConfig


class StaticWeighting(nn.Module):
    def __init__(self, tasks: list[str], config: WeightingConfig) -> None:
        super().__init__()
        self.fixed = {t: float(config.weights.get(t, 1.0)) for t in tasks}

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        return self.fixed[task] * loss

    def end_step(self) -> None:
        return None

    def weights(self) -> dict[str, float]:
        return dict(self.fixed)


class UncertaintyWeighting(nn.Module):
    def __init__(self, tasks: list[str], config: WeightingConfig) -> None:
        super().__init__()
        self.index = {t: i for i, t in enumerate(tasks)}
        self.log_variance = nn.Parameter(torch.zeros(len(tasks)))

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        s = self.log_variance[self.index[task]]
        return loss / (2 * s.exp()) + s / 2

    def end_step(self) -> None:
        return None

    def weights(self) -> dict[str, float]:
        """The factor each task's loss is multiplied by, 1 / (2σ²)."""
        values = (0.5 * (-self.log_variance.detach()).exp()).tolist()
        return {t: values[i] for t, i in self.index.items()}


class DynamicWeightAverage(nn.Module):
    def __init__(self, tasks: list[str], config: WeightingConfig) -> None:
        super().__init__()
        self.tasks, self.temperature, self.period = list(tasks), float(config.temperature), int(config.period)
        self.history: list[dict[str, float]] = []  # mean loss per task of each finished period
        self.current = {t: 1.0 for t in tasks}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._pending: list[tuple[str, torch.Tensor]] = []  # losses not yet read, so no step waits on the device
        self._steps = 0

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        self._pending.append((task, loss.detach()))
        return self.current[task] * loss

    def end_step(self) -> None:
        self._steps += 1
        if self._steps % self.period:
            return
        for task, loss in self._pending:
            self._sums[task] += float(loss)
            self._counts[task] += 1
        self._pending.clear()
        if all(self._counts[t] for t in self.tasks):  # a period where a task never ran does not count
            self.history.append({t: self._sums[t] / self._counts[t] for t in self.tasks})
            self._sums, self._counts = defaultdict(float), defaultdict(int)
            self.current = dwa_weights(self.history, self.temperature)

    def weights(self) -> dict[str, float]:
        return dict(self.current)

    def get_extra_state(self) -> dict:
        return {"history": self.history, "current": self.current, "steps": self._steps, "sums": dict(self._sums),
                "counts": dict(self._counts), "pending": [(t, float(loss)) for t, loss in self._pending]}

    def set_extra_state(self, state: dict) -> None:
        self.history, self.current, self._steps = state["history"], state["current"], state["steps"]
        self._sums, self._counts = defaultdict(float, state["sums"]), defaultdict(int, state["counts"])
        self._pending = [(t, torch.tensor(v)) for t, v in state["pending"]]


def dwa_weights(history: list[dict[str, float]], temperature: float) -> dict[str, float]:
    """DWA's weights from the mean losses of the finished periods (1 each until there are two)."""
    tasks = list(history[-1]) if history else []
    if len(history) < 2:
        return {t: 1.0 for t in tasks}
    ratios = {t: history[-1][t] / max(history[-2][t], 1e-12) for t in tasks}
    exps = {t: math.exp(r / temperature) for t, r in ratios.items()}
    total = sum(exps.values())
    return {t: len(tasks) * e / total for t, e in exps.items()}


WEIGHTINGS = {"static": StaticWeighting, "uncertainty": UncertaintyWeighting, "dwa": DynamicWeightAverage}


def build_weighting(config: WeightingConfig, tasks: list[str]) -> nn.Module:
    return WEIGHTINGS[config.type](tasks, config)
