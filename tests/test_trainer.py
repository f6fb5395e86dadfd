import json
import logging
import math
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from mtl_nlp.allocator import allocator_in_use
from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.errors import ConfigError
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.tasks import build_task
from mtl_nlp.trainer import fit, make_optimizer, prepare_data, read_data, train
from mtl_nlp.validation import validate_run


def test_two_steps_change_every_trainable_parameter(tiny_run):
    run = validate_run(tiny_run(train={"max_steps": 2, "eval_every": 2, "learning_rate": 1e-3}))
    run.tasks = [t for t in run.tasks if t.name != "demo_relation"]  # two tasks, round robin: each head gets a step
    accelerator = Accelerator(cpu=True)
    encoder, tokenizer = load_encoder(run.encoder)
    tasks = {t.name: build_task(t) for t in run.tasks}
    data = prepare_data(read_data(run, tasks), tasks, tokenizer, accelerator)
    model = MultiTaskModel.from_encoder(encoder, run.tasks)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    out = fit(run, accelerator, model, tokenizer, tasks, data)
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p.detach(), before[n])]
    assert unchanged == []
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 2 and set(summary["dev"]) == {"demo_ner", "demo_sentiment"}
    assert summary["allocator"] == allocator_in_use()  # recorded: it changes a CPU run's speed and memory


def test_a_run_names_its_memory_allocator_in_the_log(tiny_run, caplog):
    with caplog.at_level(logging.INFO):
        train(validate_run(tiny_run(train={"max_steps": 1, "eval_every": 1})))
    assert f"memory allocator: {allocator_in_use()}" in caplog.text


def test_heads_may_learn_faster_and_norms_skip_weight_decay(tiny_encoder_dir):
    from mtl_nlp.config import TaskConfig

    encoder, _ = load_encoder(str(tiny_encoder_dir))
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    optimizer = make_optimizer(MultiTaskModel.from_encoder(encoder, [task]), 1e-5, 1e-3, 0.01)
    groups = {(g["lr"], g["weight_decay"]): len(g["params"]) for g in optimizer.param_groups}
    assert set(groups) == {(1e-5, 0.01), (1e-5, 0.0), (1e-3, 0.01), (1e-3, 0.0)}
    assert groups[(1e-3, 0.01)] == 1  # the head's weight matrix


def test_marker_tokens_grow_the_embeddings(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    size = len(tokenizer)
    assert add_special_tokens(tokenizer, encoder, ["[E1]", "[/E1]"]) == 2
    assert encoder.get_input_embeddings().weight.shape[0] == size + 2


def test_gradient_accumulation_counts_optimizer_steps(tiny_run):
    from mtl_nlp.trainer import train

    run = validate_run(tiny_run(train={"max_steps": 3, "eval_every": 3, "gradient_accumulation_steps": 2}))
    summary = json.loads((train(run) / "metrics.json").read_text())
    assert summary["steps"] == 3 and summary["best_step"] == 3 and summary["eval_seconds"] > 0


@pytest.mark.parametrize("changes", [
    {"weighting": {"type": "uncertainty"}},
    {"weighting": {"type": "dwa", "period": 1}},
    {"weighting": {"type": "static", "weights": {"demo_ner": 2.0}}},
    {"sampling": {"type": "every_task"}, "gradient": {"type": "pcgrad"}, "train": {"gradient_accumulation_steps": 2}},
    {"sampling": {"type": "every_task"}, "gradient": {"type": "pcgrad"}, "train": {"mixed_precision": "bf16"}},
    {"sampling": {"type": "annealed", "sizes": {"demo_ner": 5}}},
    {"sampling": {"type": "schedule", "milestones": {0: {"demo_ner": 1}, 2: {"demo_relation": 1, "demo_sentiment": 1}}}},
], ids=["uncertainty", "dwa", "static", "pcgrad", "pcgrad-bf16", "annealed", "schedule"])
def test_each_balancing_option_trains_from_yaml_and_reports_itself(tiny_run, changes):
    from mtl_nlp.trainer import train

    changes = {**changes, "train": {"max_steps": 4, "eval_every": 4, "log_every": 1, **changes.get("train", {})}}
    summary = json.loads((train(validate_run(tiny_run(**changes))) / "metrics.json").read_text())
    assert summary["steps"] == 4
    weights = summary["weighting"]["final"]
    assert set(weights) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert all(set(entry["weight"]) == set(weights) for entry in summary["train_losses"])
    kind = changes.get("weighting", {}).get("type")
    if kind == "uncertainty":
        assert all(w != 0.5 for w in weights.values())  # every log-variance was trained away from 0
        from mtl_nlp.report import write_report

        assert "Loss weight per task during training" in write_report(summary["run"]["output_dir"]).read_text()
    if kind == "static":
        assert weights["demo_ner"] == 2.0
    if changes.get("gradient"):
        assert summary["gradient"]["type"] == "pcgrad" and summary["gradient"]["combine_seconds_per_step"] > 0
        assert all(len(entry["loss"]) == 3 for entry in summary["train_losses"])  # every task in every step
        assert all(math.isfinite(v) for entry in summary["train_losses"] for v in entry["loss"].values())


def test_gradient_cosines_are_measured_logged_and_summarised(tiny_run):
    from mtl_nlp.trainer import train

    run = validate_run(tiny_run(gradient={"cosine_every": 2}, train={"max_steps": 4, "eval_every": 4}))
    summary = json.loads((train(run) / "metrics.json").read_text())
    cosines = summary["gradient"]["cosines"]
    assert [c["step"] for c in cosines] == [2, 4]
    mean = summary["gradient"]["mean_cosine"]
    assert set(mean) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert all(mean[t][t] == pytest.approx(1.0, abs=1e-3) for t in mean) and -1 <= mean["demo_ner"]["demo_sentiment"] <= 1
    from mtl_nlp.report import write_report

    page = write_report(run.output_dir).read_text()
    assert (Path(run.output_dir) / "report" / "gradient_cosine.png").is_file() and "mean of 2 measurements" in page


def test_pcgrad_without_every_task_sampling_is_a_config_error(tiny_run):
    from mtl_nlp.errors import ConfigError

    with pytest.raises(ConfigError, match="set sampling.type: every_task"):
        validate_run(tiny_run(gradient={"type": "pcgrad"}))


def test_fused_adamw_is_the_default_and_plain_adamw_a_setting(tiny_encoder_dir):
    from mtl_nlp.config import TaskConfig, TrainConfig

    encoder, _ = load_encoder(str(tiny_encoder_dir))
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    model = MultiTaskModel.from_encoder(encoder, [task])
    assert TrainConfig().optimizer == "adamw_fused"
    assert make_optimizer(model, 1e-5, 1e-3, 0.01, fused=True).defaults["fused"] is True
    assert not make_optimizer(model, 1e-5, 1e-3, 0.01).defaults["fused"]


def test_speed_options_train_from_yaml(tiny_run, monkeypatch):
    """Eager attention, loader workers and a compiled encoder are run settings; compiling is in place, so the
    saved weights keep the plain encoder's names (asserting that compile was asked for keeps this test fast)."""
    from safetensors import safe_open

    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)))
    run = validate_run(tiny_run(attention="eager", train={"compile": True, "dataloader_workers": 1, "max_steps": 3}))
    out = train(run)
    assert compiled == [("BertModel", {"dynamic": True})]
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert all("_orig_mod" not in key for key in weights.keys()) and any(k.startswith("encoder.") for k in weights.keys())
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3


def test_fast_dropout_masks_train_reproducibly_and_differently_from_torch_masks(tiny_run):
    """The setting reaches the training forward pass: same seed, same weights; other masks, other weights."""
    from safetensors.torch import load_file

    def weights(masks: str, name: str) -> dict:
        run = validate_run(tiny_run(output_dir=str(Path(tiny_run().parent) / name), train={"dropout_masks": masks, "max_steps": 2}))
        return load_file(train(run) / "model.safetensors")

    fast, again, plain = weights("fast", "a"), weights("fast", "b"), weights("torch", "c")
    assert all(torch.equal(fast[k], again[k]) for k in fast)
    assert not all(torch.equal(fast[k], plain[k]) for k in fast)


def test_an_attention_kernel_the_encoder_cannot_use_is_a_config_error(tiny_run, tiny_encoder_dir):
    assert load_encoder(str(tiny_encoder_dir), attention="eager")[0].config._attn_implementation == "eager"
    with pytest.raises(ConfigError, match="attention: 'no_such_kernel'"):
        train(validate_run(tiny_run(attention="no_such_kernel")))


def test_case_features_train_from_yaml_save_and_serve(tiny_run):
    """A tagger reading word casing trains, is saved with its casing embedding and serves raw text."""
    from mtl_nlp.predict import pipeline

    run = validate_run(tiny_run(train={"max_steps": 2, "eval_every": 2}), ["task.demo_ner.case_features=true"])
    out = train(run)
    predictor = pipeline(str(out))
    assert predictor.model.heads["demo_ner"].cases is not None and predictor.model.heads["demo_sentiment"].__class__.__name__ == "SequenceHead"
    answers = predictor(["Anna Berg works for Acme Corp in Oslo .", "what a dull film"])
    assert all("entities" in a["demo_ner"] and "label" in a["demo_sentiment"] for a in answers)
