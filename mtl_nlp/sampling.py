"""Which task the next batch comes from: per-task proportions and a seeded, resumable task sampler.

The sampler draws from its own ``random.Random(seed)``, so every process of a distributed run draws the same task
sequence and runs the same head in the same step; its state is plain data, so a checkpoint can hold it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

import torch
from accelerate.data_loader import DataLoaderDispatcher, DataLoaderShard
from torch.utils.data import DataLoader

from mtl_nlp.config import SamplingConfig

Schedule = Callable[[int], dict[str, float]]  # optimiser step -> probability of each task


def task_proportions(
    sizes: dict[str, int], strategy: str, *, temperature: float = 1.0, weights: dict[str, float] | None = None
) -> dict[str, float]:
    """Probability of drawing each task.

    proportional: p_i = n_i / sum n; temperature: p_i ∝ n_i^(1/T) (Arivazhagan et al. 2019); uniform: 1/K;
    fixed: the given weights, normalised; round_robin: 1/K on average (the order is fixed, not drawn).
    """
    if strategy in ("proportional", "annealed"):  # annealed starts proportional (see annealed_proportions)
        raw = {name: float(n) for name, n in sizes.items()}
    elif strategy == "temperature":
        raw = {name: float(n) ** (1.0 / temperature) for name, n in sizes.items()}
    elif strategy in ("uniform", "round_robin", "every_task"):
        raw = {name: 1.0 for name in sizes}
    elif strategy == "fixed":
        raw = {name: float((weights or {})[name]) for name in sizes}
    else:
        raise ValueError(f"unknown sampling strategy {strategy!r}")
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"sampling weights must not all be zero: {raw}")
    return {name: value / total for name, value in raw.items()}


def annealed_proportions(sizes: dict[str, int], step: int, total_steps: int, anneal_to: float = 0.0) -> dict[str, float]:
    """p_i ∝ n_i^a, the exponent a going linearly from 1 at the first step to ``anneal_to`` at the last
    (Stickland & Murray 2019 anneal per epoch from 1 to 0.2; anneal_to=0 ends uniform)."""
    exponent = 1.0 - (1.0 - anneal_to) * min(step, total_steps - 1) / max(total_steps - 1, 1)
    raw = {name: float(n) ** exponent for name, n in sizes.items()}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def milestone_proportions(milestones: dict[int, dict[str, float]], names: list[str], step: int) -> dict[str, float]:
    """The weights of the last milestone at or before ``step``, normalised (tasks it leaves out get 0)."""
    weights = milestones[max(m for m in milestones if m <= step)]
    total = sum(weights.values())
    return {name: weights.get(name, 0.0) / total for name in names}


def schedule_for(sampling: SamplingConfig, sizes: dict[str, int], total_steps: int) -> Schedule:
    """Task probabilities per optimiser step for a run's sampling settings; ``sampling.sizes`` replaces real sizes."""
    sizes = {name: sampling.sizes.get(name, n) for name, n in sizes.items()}
    if sampling.type == "annealed":
        return lambda step: annealed_proportions(sizes, step, total_steps, sampling.anneal_to)
    if sampling.type == "schedule":
        milestones = {int(k): v for k, v in sampling.milestones.items()}  # JSON round trips make the keys strings
        return lambda step: milestone_proportions(milestones, list(sizes), step)
    fixed = task_proportions(sizes, sampling.type, temperature=sampling.temperature, weights=sampling.weights)
    return lambda step: fixed


def draws_per_step(sampling: SamplingConfig, tasks: int) -> int:
    """Task batches per optimiser step (before gradient accumulation): every task's with every_task, else one."""
    return tasks if sampling.type == "every_task" else 1


def sampler_for(sampling: SamplingConfig, sizes: dict[str, int], *, seed: int, total_steps: int) -> TaskSampler:
    """The run's sampler: drawn from the schedule, or in order for round_robin and every_task (all tasks each step)."""
    ordered = sampling.type in ("round_robin", "every_task")
    return TaskSampler(schedule_for(sampling, sizes, total_steps), seed=seed, round_robin=ordered, names=list(sizes),
                       per_step=draws_per_step(sampling, len(sizes)))


class TaskSampler:
    """An endless, deterministic sequence of task names with ``state_dict`` / ``load_state_dict`` for exact resume.

    ``proportions`` is fixed or a schedule (optimiser step -> proportions); the step is ``draws // per_step``, so a
    resumed sampler continues the same schedule. ``per_step`` tasks are drawn for each optimiser step.
    """

    def __init__(self, proportions: dict[str, float] | Schedule, *, seed: int, round_robin: bool = False,
                 names: list[str] | None = None, per_step: int = 1) -> None:
        self.schedule = proportions if callable(proportions) else (lambda step, fixed=dict(proportions): fixed)
        self.names = names or list(proportions)
        self.round_robin = round_robin
        self.per_step = per_step
        self.seed = seed
        self.draws = 0
        self._rng = random.Random(seed)

    @property
    def step(self) -> int:
        return self.draws // self.per_step

    def proportions(self) -> dict[str, float]:
        """The probabilities in force for the next draw."""
        return self.schedule(self.step)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.round_robin:
            name = self.names[self.draws % len(self.names)]
        else:
            current = self.schedule(self.step)
            name = self._rng.choices(self.names, weights=[current[n] for n in self.names])[0]
        self.draws += 1
        return name

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "draws": self.draws, "rng": self._rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed, self.draws = state["seed"], state["draws"]
        version, internal, gauss = state["rng"]  # tuples become lists when the state goes through JSON
        self._rng.setstate((version, tuple(internal), gauss))


class Interleaver:
    """Endless (task, batch) pairs, one task per batch as the sampler draws; a task's loader restarts (reshuffled)
    when it runs out. Its state (each task's epoch, batches taken this epoch, and its loader's shuffling generator
    at the start of the epoch) lets a resumed run take exactly the batches the interrupted one would have."""

    def __init__(self, loaders: dict[str, DataLoader], sampler: TaskSampler) -> None:
        self.loaders, self.sampler = loaders, sampler
        self.epochs = dict.fromkeys(loaders, 0)
        self.taken = dict.fromkeys(loaders, 0)
        self.generator_states: dict[str, torch.Tensor] = {}
        self._iterators: dict[str, Iterator] = {}

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self

    def __next__(self) -> tuple[str, Any]:
        task = next(self.sampler)
        if task not in self._iterators:
            self._start(task)
        try:
            batch = next(self._iterators[task])
        except StopIteration:
            self.epochs[task] += 1
            self._start(task)
            batch = next(self._iterators[task])
        self.taken[task] += 1
        return task, batch

    def _start(self, task: str, skip: int = 0) -> None:
        loader = self.loaders[task]
        generator = getattr(loader, "generator", None)
        if skip == 0:
            self.taken[task] = 0
            if generator is not None:
                self.generator_states[task] = generator.get_state()
        if isinstance(loader, (DataLoaderShard, DataLoaderDispatcher)):  # prepared: reshuffle by epoch
            loader.set_epoch(self.epochs[task])
        self._iterators[task] = iter(loader)
        for _ in range(skip):
            next(self._iterators[task])

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": dict(self.epochs), "taken": dict(self.taken),
                "generator_states": {t: s.clone() for t, s in self.generator_states.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rebuild each started task's iterator where it was: same epoch, same shuffle, the taken batches skipped."""
        self.epochs, self.taken = dict(state["epochs"]), dict(state["taken"])
        self.generator_states = dict(state["generator_states"])
        self._iterators = {}
        for task, generator_state in self.generator_states.items():
            self.loaders[task].generator.set_state(generator_state)
            self._start(task, skip=self.taken[task])


def interleave(loaders: dict[str, DataLoader], sampler: TaskSampler, steps: int) -> Iterator[tuple[str, dict]]:
    """``steps`` (task, batch) pairs from an :class:`Interleaver`."""
    return itertools.islice(Interleaver(loaders, sampler), steps)
