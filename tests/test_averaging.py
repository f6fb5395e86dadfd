import json

import torch
from safetensors.torch import load_file
from torch import nn

from mtl_nlp import averaging
from mtl_nlp.trainer import train
from mtl_nlp.validation import validate_run


def test_the_average_starts_after_warm_up_and_moves_by_one_minus_decay():
    model = nn.Linear(2, 1, bias=False)
    assert averaging.moving_average(model, None) is None and averaging.scored(model, None) is model
    average = averaging.moving_average(model, 0.75)
    with torch.no_grad():
        model.weight.fill_(1.0)
    averaging.update(average, model, step=1, start=1)  # still warming up: nothing held, the model is scored
    assert averaging.scored(model, average) is model
    averaging.update(average, model, step=2, start=1)  # the first step after warm-up: copied
    with torch.no_grad():
        model.weight.fill_(5.0)
    averaging.update(average, model, step=3, start=1)
    assert averaging.scored(model, average) is average.module
    assert torch.allclose(average.module.weight, torch.full((1, 2), 0.75 * 1.0 + 0.25 * 5.0))


def test_a_run_with_ema_decay_keeps_and_scores_the_average(tiny_run, monkeypatch):
    """The saved model holds the moving average of the weights after each step past warm-up, not the last ones."""
    seen = []
    original = averaging.update

    def recording(average, model, step, start):
        seen.append((step, start, model.heads["demo_sentiment"].classifier.weight.detach().clone()))
        original(average, model, step, start)

    monkeypatch.setattr(averaging, "update", recording)
    run = validate_run(tiny_run(train={"max_steps": 6, "eval_every": 6, "warmup_ratio": 0.34, "ema_decay": 0.5,
                                       "learning_rate": 1e-2, "head_learning_rate": 1e-1}))
    out = train(run)
    assert [(step, start) for step, start, _ in seen] == [(s, 2) for s in range(1, 7)]
    expected = seen[2][2]  # step 3, the first after the two warm-up steps
    for _, _, weight in seen[3:]:
        expected = 0.5 * expected + 0.5 * weight
    saved = load_file(out / "model.safetensors")["heads.demo_sentiment.classifier.weight"]
    assert torch.allclose(saved, expected, atol=1e-6) and not torch.allclose(saved, seen[-1][2])
    assert json.loads((out / "metrics.json").read_text())["run"]["train"]["ema_decay"] == 0.5


def test_ema_decay_must_be_a_fraction(tiny_run):
    import pytest

    from mtl_nlp.errors import ConfigError

    with pytest.raises(ConfigError, match="ema_decay"):
        validate_run(tiny_run(train={"ema_decay": 1.0}))
