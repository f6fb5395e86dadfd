import math

import pytest
import torch

from mtl_nlp.config import WeightingConfig
from mtl_nlp.weighting import build_weighting, dwa_weights


def test_static_weights_scale_each_task_and_default_to_one():
    weighting = build_weighting(WeightingConfig(type="static", weights={"a": 0.5}), ["a", "b"])
    assert float(weighting("a", torch.tensor(2.0))) == 1.0 and float(weighting("b", torch.tensor(2.0))) == 2.0
    assert weighting.weights() == {"a": 0.5, "b": 1.0}


def test_uncertainty_loss_is_its_formula_and_learns_the_log_variance():
    weighting = build_weighting(WeightingConfig(type="uncertainty"), ["a", "b"])
    with torch.no_grad():
        weighting.log_variance.copy_(torch.tensor([0.3, -0.7]))
    loss = weighting("b", torch.tensor(1.5))
    assert float(loss.detach()) == pytest.approx(1.5 / (2 * math.exp(-0.7)) + -0.7 / 2)
    assert weighting.weights()["a"] == pytest.approx(0.5 * math.exp(-0.3))
    loss.backward()  # d/ds [L e^-s / 2 + s / 2] = -L e^-s / 2 + 1/2, only for the task that ran
    assert weighting.log_variance.grad.tolist() == pytest.approx([0.0, -1.5 * math.exp(0.7) / 2 + 0.5])


def test_dwa_weights_follow_the_loss_ratio_formula():
    history = [{"a": 2.0, "b": 1.0, "c": 4.0}, {"a": 1.0, "b": 1.0, "c": 3.0}]
    weights = dwa_weights(history, temperature=2.0)
    ratios = {"a": 0.5, "b": 1.0, "c": 0.75}
    total = sum(math.exp(r / 2) for r in ratios.values())
    assert weights == pytest.approx({t: 3 * math.exp(r / 2) / total for t, r in ratios.items()})
    assert sum(weights.values()) == pytest.approx(3) and weights["b"] > weights["c"] > weights["a"]  # slowest learner first
    assert dwa_weights(history[:1], 2.0) == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_dwa_averages_each_task_over_a_period_of_steps():
    weighting = build_weighting(WeightingConfig(type="dwa", period=4, temperature=1.0), ["a", "b"])
    losses = [("a", 4.0), ("b", 2.0), ("a", 2.0), ("b", 2.0), ("a", 1.0), ("b", 2.0), ("a", 1.0), ("b", 2.0)]
    for task, value in losses:
        assert float(weighting(task, torch.tensor(value))) == pytest.approx(weighting.weights()[task] * value)
        weighting.end_step()
    assert weighting.history == [{"a": 3.0, "b": 2.0}, {"a": 1.0, "b": 2.0}]
    assert weighting.weights() == pytest.approx(dwa_weights(weighting.history, 1.0))
    state = weighting.state_dict()
    resumed = build_weighting(WeightingConfig(type="dwa", period=4, temperature=1.0), ["a", "b"])
    resumed.load_state_dict(state)
    assert resumed.history == weighting.history and resumed.weights() == weighting.weights()
