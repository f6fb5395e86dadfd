import collections
import json

import pytest
import torch
from torch.utils.data import DataLoader

from mtl_nlp.config import SamplingConfig
from mtl_nlp.sampling import (
    Interleaver,
    TaskSampler,
    annealed_proportions,
    draws_per_step,
    interleave,
    sampler_for,
    schedule_for,
    task_proportions,
)

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


def test_annealed_proportions_start_proportional_and_end_uniform():
    assert annealed_proportions(SIZES, 0, 100) == pytest.approx(task_proportions(SIZES, "proportional"))
    assert annealed_proportions(SIZES, 99, 100) == pytest.approx(task_proportions(SIZES, "uniform"))
    middle = annealed_proportions(SIZES, 50, 101)  # exponent 1/2 halfway: the temperature-2 proportions
    assert middle == pytest.approx(task_proportions(SIZES, "temperature", temperature=2.0))
    end = annealed_proportions(SIZES, 99, 100, anneal_to=0.2)
    assert end == pytest.approx(task_proportions(SIZES, "temperature", temperature=5.0))


def test_a_resumed_annealed_sampler_continues_the_same_schedule():
    config = SamplingConfig(type="annealed")
    sampler = sampler_for(config, SIZES, seed=5, total_steps=400)
    [next(sampler) for _ in range(250)]
    state = json.loads(json.dumps(sampler.state_dict()))
    expected = [next(sampler) for _ in range(150)]
    resumed = sampler_for(config, SIZES, seed=5, total_steps=400)
    resumed.load_state_dict(state)
    assert resumed.proportions() == pytest.approx(annealed_proportions(SIZES, 250, 400))
    assert [next(resumed) for _ in range(150)] == expected
    late = collections.Counter(expected)
    assert late["a"] > 150 * 100 / 1400  # late in training the small task is drawn more than its size share


def test_milestones_switch_weights_at_their_steps():
    config = SamplingConfig(type="schedule", milestones={0: {"a": 1.0}, 10: {"b": 1.0, "c": 3.0}})
    sampler = sampler_for(config, SIZES, seed=0, total_steps=20)
    draws = [next(sampler) for _ in range(20)]
    assert set(draws[:10]) == {"a"} and "a" not in draws[10:]
    assert sampler.proportions() == {"a": 0.0, "b": 0.25, "c": 0.75}


def test_sizes_override_samples_a_task_as_if_it_had_that_many_examples():
    config = SamplingConfig(type="proportional", sizes={"c": 100})
    assert schedule_for(config, SIZES, 10)(0) == pytest.approx({"a": 100 / 600, "b": 400 / 600, "c": 100 / 600})


def test_every_task_draws_each_task_once_per_optimiser_step():
    sampler = sampler_for(SamplingConfig(type="every_task"), SIZES, seed=0, total_steps=3)
    assert sampler.per_step == draws_per_step(SamplingConfig(type="every_task"), 3) == 3
    assert [next(sampler) for _ in range(6)] == ["a", "b", "c", "a", "b", "c"] and sampler.step == 2


def test_a_resumed_interleaver_takes_exactly_the_batches_the_first_would_have():
    def loaders():
        g = {name: torch.Generator().manual_seed(i) for i, name in enumerate("ab")}
        return {"a": DataLoader(torch.arange(7), batch_size=2, shuffle=True, generator=g["a"]),
                "b": DataLoader(torch.arange(10, 15), batch_size=2, shuffle=True, generator=g["b"])}

    first = Interleaver(loaders(), TaskSampler({"a": 0.5, "b": 0.5}, seed=4))
    [next(first) for _ in range(9)]  # past the end of an epoch of each task
    state = json.loads(json.dumps({"sampler": first.sampler.state_dict()}))
    interleaver_state = first.state_dict()
    expected = [(t, b.tolist()) for t, b in (next(first) for _ in range(12))]
    resumed = Interleaver(loaders(), TaskSampler({"a": 0.5, "b": 0.5}, seed=0))
    resumed.sampler.load_state_dict(state["sampler"])
    resumed.load_state_dict(interleaver_state)
    assert [(t, b.tolist()) for t, b in (next(resumed) for _ in range(12))] == expected
