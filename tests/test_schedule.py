import json
import logging

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

import mtl_nlp.trainer
from mtl_nlp.config import SharingConfig, TaskConfig
from mtl_nlp.encoders import load_encoder
from mtl_nlp.errors import ConfigError
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.schedule import drop_encoder_gradients, make_scheduler
from mtl_nlp.trainer import make_optimizer, train
from mtl_nlp.validation import validate_run


def _groups(*shared: bool) -> torch.optim.Optimizer:
    return torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 1.0, "shared": s} for s in shared])


def test_without_an_early_stop_the_schedule_is_transformers_linear_one_to_the_bit():
    ours, theirs = _groups(True, False), _groups(True, False)
    mine, reference = make_scheduler(ours, 3, 10, 10), get_linear_schedule_with_warmup(theirs, 3, 10)
    for _ in range(12):
        assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in theirs.param_groups]
        ours.step(), theirs.step(), mine.step(), reference.step()


def test_the_encoder_groups_reach_zero_at_their_own_end_and_the_task_parts_at_the_runs():
    optimizer = _groups(True, False)
    scheduler = make_scheduler(optimizer, 2, 10, 6)
    rates = []
    for _ in range(10):
        rates.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step(), scheduler.step()
    encoder, task = zip(*rates)
    assert encoder == pytest.approx([0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0, 0, 0])
    assert task == pytest.approx([0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])


@pytest.mark.parametrize("sharing", [SharingConfig(), SharingConfig(type="lora", train_encoder=True, r=2)])
def test_the_optimizer_marks_the_encoders_own_weights_as_shared_and_not_the_adapters_inside_it(tiny_encoder_dir, sharing):
    encoder, _ = load_encoder(str(tiny_encoder_dir))
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    model = MultiTaskModel.from_encoder(encoder, [task], sharing)
    # one rate for encoder and adapters: only the mark tells them apart
    shared = {id(p): g["shared"] for g in make_optimizer(model, 1e-4, 1e-4, 0.01).param_groups for p in g["params"]}
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any(".lora_" in n for n in names) == (sharing.type == "lora")
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert shared[id(param)] == (name.startswith("encoder.") and ".lora_" not in name), name


def test_dropping_the_encoder_gradients_leaves_the_task_parts():
    optimizer = _groups(True, False)
    for group in optimizer.param_groups:
        group["params"][0].grad = torch.ones(2)
    drop_encoder_gradients(optimizer)
    assert [g["params"][0].grad is None for g in optimizer.param_groups] == [True, False]


def test_after_encoder_until_only_the_heads_and_adapters_train(tiny_run, caplog, monkeypatch):
    """Four steps, the encoder's schedule ending at step 2: its weights after step 2 are its final ones; the heads move on."""
    seen, real = {}, mtl_nlp.trainer.drop_encoder_gradients

    def recording(optimizer):
        if not seen:  # the first step after the encoder's end, before its update: the weights of the first two steps
            seen.update({id(p): (p, p.detach().clone(), g["shared"]) for g in optimizer.param_groups for p in g["params"]})
        real(optimizer)

    monkeypatch.setattr(mtl_nlp.trainer, "drop_encoder_gradients", recording)
    run = tiny_run(sharing={"type": "lora", "train_encoder": True, "r": 2},
                   train={"max_steps": 4, "eval_every": 4, "warmup_ratio": 0.0, "encoder_until": 0.5, "learning_rate": 1e-2})
    with caplog.at_level(logging.INFO):
        out = train(validate_run(run))
    assert "the shared encoder trains for the first 2 steps" in caplog.text
    encoder = [torch.equal(p, then) for p, then, shared in seen.values() if shared]
    parts = [torch.equal(p, then) for p, then, shared in seen.values() if not shared]
    assert encoder and all(encoder)
    assert parts and not all(parts)  # heads and adapters of the steps' tasks moved after step 2
    assert json.loads((out / "metrics.json").read_text())["run"]["train"]["encoder_until"] == 0.5
    assert "the encoder trains until | 0.5 of the steps" in (out / "README.md").read_text()


@pytest.mark.parametrize("value", [0, 1.5, True, "late"])
def test_encoder_until_must_be_a_share_of_the_steps(tiny_run, value):
    with pytest.raises(ConfigError, match="encoder_until"):
        validate_run(tiny_run(train={"encoder_until": value}))


def test_an_encoder_that_would_stop_within_the_warm_up_is_refused(tiny_run):
    with pytest.raises(ConfigError, match="within the 5 warm-up steps"):
        validate_run(tiny_run(train={"max_steps": 10, "warmup_ratio": 0.5, "encoder_until": 0.5}))
