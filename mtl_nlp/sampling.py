"""Which task the next batch comes from: per-task proportions and a seeded, resumable task sampler.

The sampler draws from its own ``random.Random(seed)``, so every process of a distributed run draws the same task
sequence and runs the same head in the same step; its state is plain data, so a checkpoint can hold it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from accelerate.data_loader import DataLoaderDispatcher, DataLoaderShard
from torch.utils.data import DataLoader


def task_proportions(
    sizes: dict[str, int], strategy: str, *, temperature: float = 1.0, weights: dict[str, float] | None = None
) -> dict[str, float]:
    """Probability of drawing each task.

    proportional: p_i = n_i / sum n; temperature: p_i ∝ n_i^(1/T) (Arivazhagan et al. 2019); uniform: 1/K;
    fixed: the given weights, normalised; round_robin: 1/K on average (the order is fixed, not drawn).
    """
    if strategy == "proportional":
        raw = {name: float(n) for name, n in sizes.items()}
    elif strategy == "temperature":
        raw = {name: float(n) ** (1.0 / temperature) for name, n in sizes.items()}
    elif strategy in ("uniform", "round_robin"):
        raw = {name: 1.0 for name in sizes}
    elif strategy == "fixed":
        raw = {name: float((weights or {})[name]) for name in sizes}
    else:
        raise ValueError(f"unknown sampling strategy {strategy!r}")
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"sampling weights must not all be zero: {raw}")
    return {name: value / total for name, value in raw.items()}


class TaskSampler:
    """An endless, deterministic sequence of task names with ``state_dict`` / ``load_state_dict`` for exact resume."""

    def __init__(self, proportions: dict[str, float], *, seed: int, round_robin: bool = False) -> None:
        self.names = list(proportions)
        self.weights = [proportions[n] for n in self.names]
        self.round_robin = round_robin
        self.seed = seed
        self.draws = 0
        self._rng = random.Random(seed)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.round_robin:
            name = self.names[self.draws % len(self.names)]
        else:
            name = self._rng.choices(self.names, weights=self.weights)[0]
        self.draws += 1
        return name

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "draws": self.draws, "rng": self._rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed, self.draws = state["seed"], state["draws"]
        version, internal, gauss = state["rng"]  # tuples become lists when the state goes through JSON
        self._rng.setstate((version, tuple(internal), gauss))


def interleave(loaders: dict[str, DataLoader], sampler: TaskSampler, steps: int) -> Iterator[tuple[str, dict]]:
    """``steps`` (task, batch) pairs, one task per batch; a task's loader restarts (reshuffled) when it runs out."""
    iterators: dict[str, Iterator] = {}
    epochs = dict.fromkeys(loaders, 0)
    for _ in range(steps):
        task = next(sampler)
        try:
            batch = next(iterators[task]) if task in iterators else None
        except StopIteration:
            batch, epochs[task] = None, epochs[task] + 1
        if batch is None:
            loader = loaders[task]
            if isinstance(loader, (DataLoaderShard, DataLoaderDispatcher)):  # prepared: reshuffle by epoch
                loader.set_epoch(epochs[task])
            iterators[task] = iter(loader)
            batch = next(iterators[task])
        yield task, batch
