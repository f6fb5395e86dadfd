import json
import logging
import re

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

import mtl_nlp.trainer
from mtl_nlp.config import TaskConfig
from mtl_nlp.encoders import load_encoder
from mtl_nlp.errors import ConfigError
from mtl_nlp.layer_decay import layer_depth, layer_index, layer_scale, set_task_rates
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.trainer import make_optimizer, train
from mtl_nlp.validation import validate_run


def test_each_layer_down_trains_at_decay_times_the_one_above():
    names = {"encoder.encoder.layer.5.output.dense.weight": 1.0, "encoder.encoder.layer.4.attention.self.query.weight": 0.5,
             "encoder.encoder.layer.0.intermediate.dense.bias": 0.5 ** 5, "encoder.embeddings.word_embeddings.weight": 0.5 ** 6,
             "encoder.pooler.dense.weight": 1.0, "encoder.layers.3.mlp.fc1.weight": 0.25}
    for name, scale in names.items():
        assert layer_scale(name, 6, 0.5) == pytest.approx(scale), name
        assert layer_scale(name, 6, None) == 1.0
    assert [layer_index(n) for n in names] == [5, 4, 0, -1, -1, 3]


def test_the_optimizer_gives_encoder_layers_their_rates_and_heads_their_own(tiny_encoder_dir):
    encoder, _ = load_encoder(str(tiny_encoder_dir))  # two layers
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    model = MultiTaskModel.from_encoder(encoder, [task])
    optimizer = make_optimizer(model, 1e-4, 1e-3, 0.01, layer_lr_decay=0.5)
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        expected = (1e-3 if name.startswith("heads.") else 2.5e-5 if ".embeddings." in name
                    else 5e-5 if ".layer.0." in name else 1e-4)
        assert rate[id(param)] == pytest.approx(expected), name
    assert {g["lr"] for g in make_optimizer(model, 1e-4, 1e-3, 0.01).param_groups} == {1e-4, 1e-3}


def test_a_run_with_layer_decay_trains_with_it_logs_and_records_it(tiny_run, caplog, monkeypatch):
    made, real = [], mtl_nlp.trainer.make_optimizer
    monkeypatch.setattr(mtl_nlp.trainer, "make_optimizer", lambda *a, **kw: made.append(kw.get("layer_lr_decay")) or real(*a, **kw))
    with caplog.at_level(logging.INFO):
        out = train(validate_run(tiny_run(train={"max_steps": 1, "eval_every": 1, "layer_lr_decay": 0.8})))
    assert made == [0.8]
    assert "layer-wise learning-rate decay 0.8" in caplog.text
    assert json.loads((out / "metrics.json").read_text())["run"]["train"]["layer_lr_decay"] == 0.8
    assert "layer-wise learning-rate decay | 0.8" in (out / "README.md").read_text()


@pytest.mark.parametrize("value", [0, 1.5, True, "high"])
def test_layer_decay_must_be_a_fraction(tiny_run, value):
    with pytest.raises(ConfigError, match="layer_lr_decay"):
        validate_run(tiny_run(train={"layer_lr_decay": value}))


def test_an_encoder_without_numbered_layers_is_named_in_a_warning(tiny_encoder_dir, caplog, monkeypatch):
    encoder, _ = load_encoder(str(tiny_encoder_dir))
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    model = MultiTaskModel.from_encoder(encoder, [task])
    monkeypatch.setattr(mtl_nlp.trainer, "layer_index", lambda name: -1)  # as for an encoder whose blocks are named otherwise
    with caplog.at_level(logging.WARNING):
        make_optimizer(model, 1e-4, 1e-3, 0.01, layer_lr_decay=0.5)
    assert "no encoder parameter is named like a numbered layer" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_optimizer(model, 1e-4, 1e-3, 0.01)
    assert "numbered layer" not in caplog.text
    model.encoder.requires_grad_(False)  # a frozen encoder trains at no rate: nothing to warn about
    with caplog.at_level(logging.WARNING):
        make_optimizer(model, 1e-4, 1e-3, 0.01, layer_lr_decay=0.5)
    assert "numbered layer" not in caplog.text


def test_a_step_moves_each_layer_at_the_stepping_tasks_decay_and_the_schedule_resets_it():
    """The run's decay 0.5 in the groups; a task without a decay (null) steps every layer at the full rate."""
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    optimizer = torch.optim.AdamW([{"params": [p], "lr": 1e-4 * 0.5 ** d, "layer_depth": d} for p, d in zip(params, (0, 1, 3))]
                                  + [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 1e-3}])  # a head: no depth
    schedule = get_linear_schedule_with_warmup(optimizer, 0, 10)
    planned = [g["lr"] for g in optimizer.param_groups]
    set_task_rates(optimizer.param_groups, 0.5, None)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-4, 1e-4, 1e-3])
    set_task_rates(optimizer.param_groups, 0.5, 0.5)  # the run's own decay: untouched
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-4, 1e-4, 1e-3])
    optimizer.step()
    schedule.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([lr * 0.9 for lr in planned])
    set_task_rates(optimizer.param_groups, 0.5, 0.25)  # a task that decays faster than the run
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.9 * 1e-4 * 0.25 ** d for d in (0, 1, 3)] + [0.9e-3])


def test_the_optimizer_records_each_encoder_groups_depth_for_the_tasks_own_decay(tiny_encoder_dir):
    encoder, _ = load_encoder(str(tiny_encoder_dir))  # two layers
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    model = MultiTaskModel.from_encoder(encoder, [task])
    optimizer = make_optimizer(model, 1e-4, 1e-3, 0.01, layer_depths=True)
    depth = {id(p): g["layer_depth"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        assert depth[id(param)] == (0 if name.startswith("heads.") else layer_depth(name, 2)), name
    assert {g["lr"] for g in optimizer.param_groups} == {1e-4, 1e-3}  # without a run decay, one encoder rate
    assert {depth[id(p)] for p in model.encoder.parameters()} == {0, 1, 2}
    assert all("layer_depth" not in g for g in make_optimizer(model, 1e-4, 1e-3, 0.01).param_groups)


def test_a_run_steps_each_task_at_its_own_decay_and_records_it(tiny_run, caplog, monkeypatch):
    calls, real = [], mtl_nlp.trainer.set_task_rates

    def recording(groups, base, task):  # the step's task, and the embeddings' rate (lowest layer) the step then uses
        real(groups, base, task)
        deepest = max(g.get("layer_depth", 0) for g in groups)
        calls.append((base, task, deepest, min(g["lr"] for g in groups if g.get("layer_depth", 0) == deepest)))

    monkeypatch.setattr(mtl_nlp.trainer, "set_task_rates", recording)
    with caplog.at_level(logging.INFO):
        out = train(validate_run(tiny_run(train={"max_steps": 3, "eval_every": 3, "layer_lr_decay": 0.8,
                                                 "task_layer_lr_decay": {"demo_sentiment": None, "demo_relation": 0.5}})))
    assert [call[:2] for call in calls] == [(0.8, 0.8), (0.8, 0.5), (0.8, None)]  # round robin: ner (the run's), relation, sentiment
    depth = calls[0][2]  # the tiny encoder's embeddings sit two layers below its top
    assert depth == 2
    ner, relation, sentiment = (rate for *_, rate in calls)  # the schedule's rate for the step (linear, no warm-up:
    assert relation / ner == pytest.approx(2 / 3 * (0.5 / 0.8) ** depth)  # 3/3, 2/3, 1/3), times the task's decay
    assert sentiment / ner == pytest.approx(1 / 3 * (1 / 0.8) ** depth)
    assert "each task's own layer-wise decay in its steps: demo_sentiment none, demo_relation 0.5" in caplog.text
    assert json.loads((out / "metrics.json").read_text())["run"]["train"]["task_layer_lr_decay"] == {"demo_sentiment": None, "demo_relation": 0.5}
    assert "a task's own layer-wise decay | demo_sentiment none, demo_relation 0.5" in (out / "README.md").read_text()


@pytest.mark.parametrize(("value", "message"), [
    ({"demo_ner": 1.5}, "task_layer_lr_decay.demo_ner: must be a number in"),
    ({"demo_nre": 0.9}, "task_layer_lr_decay.demo_nre: not a task of this run; did you mean 'demo_ner'"),
    ([0.9], "task_layer_lr_decay: must map task names to a decay"),
])
def test_a_tasks_own_decay_must_be_a_fraction_for_a_task_of_the_run(tiny_run, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_run(tiny_run(train={"task_layer_lr_decay": value}))


def test_a_tasks_own_decay_needs_one_task_a_step(tiny_run):
    with pytest.raises(ConfigError, match="needs one task per optimiser step"):
        validate_run(tiny_run(sampling={"type": "every_task"}, train={"task_layer_lr_decay": {"demo_ner": 0.9}}))
    with pytest.raises(ConfigError, match="needs one task per optimiser step"):
        validate_run(tiny_run(train={"gradient_accumulation_steps": 2, "task_layer_lr_decay": {"demo_ner": 0.9}}))
