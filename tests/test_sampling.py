import collections
import json

import pytest
import torch
from torch.utils.data import DataLoader

from mtl_nlp.sampling import TaskSampler, interleave, task_proportions

SIZES = {"a": 100, "b": 400, "c": 900}


def test_proportional_and_uniform():
    assert task_proportions(SIZES, "proportional") == pytest.approx({"a": 100 / 1400, "b": 400 / 1400, "c": 900 / 1400})
    assert task_proportions(SIZES, "uniform") == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_temperature_follows_its_formula():
    p = task_proportions(SIZES, "temperature", temperature=2.0)
    total = 10 + 20 + 30  # square roots of the sizes
    assert p == pytest.approx({"a": 10 / total, "b": 20 / total, "c": 30 / total})
    assert task_proportions(SIZES, "temperature", temperature=1.0) == pytest.approx(task_proportions(SIZES, "proportional"))
    flat = task_proportions(SIZES, "temperature", temperature=1e6)
    assert max(flat.values()) - min(flat.values()) < 1e-4


def test_fixed_weights_are_normalised():
    assert task_proportions(SIZES, "fixed", weights={"a": 1, "b": 1, "c": 2}) == pytest.approx({"a": 0.25, "b": 0.25, "c": 0.5})


def test_draws_match_proportions_and_repeat_for_a_seed():
    p = task_proportions(SIZES, "temperature", temperature=2.0)
    first = [next(TaskSampler(p, seed=3)) for _ in range(1)]
    sampler = TaskSampler(p, seed=3)
    draws = [next(sampler) for _ in range(30000)]
    again = TaskSampler(p, seed=3)
    assert [next(again) for _ in range(30000)] == draws and draws[:1] == first
    counts = collections.Counter(draws)
    for name, share in p.items():
        assert counts[name] / len(draws) == pytest.approx(share, abs=0.01)
    other = TaskSampler(p, seed=4)
    assert [next(other) for _ in range(50)] != draws[:50]


def test_round_robin_cycles():
    sampler = TaskSampler({"a": 0.5, "b": 0.5}, seed=0, round_robin=True)
    assert [next(sampler) for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_state_dict_resumes_the_exact_sequence_through_json():
    sampler = TaskSampler(task_proportions(SIZES, "proportional"), seed=11)
    [next(sampler) for _ in range(37)]
    state = json.loads(json.dumps(sampler.state_dict()))
    expected = [next(sampler) for _ in range(100)]
    resumed = TaskSampler(task_proportions(SIZES, "proportional"), seed=0)
    resumed.load_state_dict(state)
    assert [next(resumed) for _ in range(100)] == expected and resumed.draws == 137


def test_interleave_restarts_exhausted_loaders():
    loaders = {"a": DataLoader(torch.arange(3), batch_size=2), "b": DataLoader(torch.arange(10, 12), batch_size=2)}
    pairs = list(interleave(loaders, TaskSampler({"a": 0.5, "b": 0.5}, seed=0, round_robin=True), 6))
    assert [t for t, _ in pairs] == ["a", "b"] * 3
    assert [b.tolist() for t, b in pairs if t == "a"] == [[0, 1], [2], [0, 1]]
