import json

import pytest
import torch

from conftest import REPO
from mtl_nlp.cli import main
from mtl_nlp.config import RunConfig, SharingConfig, TrainConfig
from mtl_nlp.encoders import load_encoder
from mtl_nlp.meta import meta_train, reptile_update, settings_not_applied
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.validation import validate_run


def test_reptile_moves_the_start_a_fraction_towards_the_adapted_weights():
    start, adapted = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 0.0])}
    assert reptile_update(start, adapted, 0.25)["w"].tolist() == [1.5, 1.5]
    assert torch.equal(reptile_update(start, adapted, 1.0)["w"], adapted["w"])


@pytest.fixture(scope="module")
def meta_model(tmp_path_factory, tiny_encoder_dir, demo_dir):
    from conftest import write_yaml

    root = tmp_path_factory.mktemp("meta")
    run = write_yaml(root / "run.yaml", {
        "encoder": str(tiny_encoder_dir),
        "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation")],
        "data_dir": str(demo_dir), "output_dir": str(root / "meta"), "sampling": {"type": "uniform"},
        "meta": {"inner_steps": 3, "step_size": 0.5},
        "train": {"max_steps": 4, "batch_size": 4, "learning_rate": 1e-3, "seed": 2},
    })
    return meta_train(validate_run(run)), tiny_encoder_dir


def test_meta_training_runs_one_task_per_inner_loop_and_moves_the_encoder(meta_model):
    folder, start_dir = meta_model
    summary = json.loads((folder / "meta.json").read_text())
    counts = summary["batches_per_task"]
    assert sum(counts.values()) == 4 * 3 and all(n % 3 == 0 for n in counts.values())  # whole inner loops per task
    learned, _ = load_encoder(str(folder))  # a multi-task folder gives its encoder
    plain, _ = load_encoder(str(start_dir))
    same = MultiTaskModel.from_pretrained(folder).encoder.state_dict()
    assert all(torch.equal(v, same[k]) for k, v in learned.state_dict().items())
    moved = [k for k, v in plain.state_dict().items() if k in learned.state_dict() and v.shape == learned.state_dict()[k].shape
             and not torch.equal(v, learned.state_dict()[k])]
    assert len(moved) > 10


def test_adapt_fine_tunes_a_new_task_from_the_meta_model_on_n_examples(meta_model, demo_dir, tmp_path, caplog):
    folder, _ = meta_model
    out = tmp_path / "adapted"
    args = ["adapt", str(folder), str(REPO / "task_configs" / "demo_sentiment.yaml"), "--data-dir", str(demo_dir),
            "--examples", "8", "--steps", "3", "--batch-size", "4", "--out", str(out)]
    with caplog.at_level("INFO"):
        assert main(args) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["dev"]) == {"demo_sentiment"} and summary["steps"] == 3
    assert summary["run"]["encoder"] == str(folder) and summary["run"]["train"]["max_train_examples"] == 8
    assert "demo_sentiment: training on 8 of" in caplog.text


def test_adapt_reports_bad_settings_as_one_error(meta_model, demo_dir, capsys):
    folder, _ = meta_model
    args = ["adapt", str(folder), str(REPO / "task_configs" / "demo_sentiment.yaml"), "--data-dir", str(demo_dir), "--steps", "0"]
    assert main(args) == 2
    assert "command line --steps: must be an integer >= 1" in capsys.readouterr().err


def test_the_adaptation_curve_has_every_start_size_and_seed(meta_model, demo_dir, tmp_path):
    from scripts_loader import script_main

    folder, plain = meta_model
    out = tmp_path / "curve"
    args = [str(REPO / "task_configs" / "demo_sentiment.yaml"), "--data-dir", str(demo_dir), "--start", f"plain={plain}",
            "--start", f"reptile={folder}", "--examples", "4", "8", "--seeds", "1", "2", "--steps", "2", "--batch-size", "4", "--out", str(out)]
    assert script_main("benchmark_meta")(args) == 0
    report = json.loads((out / "meta.json").read_text())
    assert report["command"] == "python scripts/benchmark_meta.py " + " ".join(args)
    assert {name: {n: len(v) for n, v in by.items()} for name, by in report["scores"].items()} == {
        "plain": {"4": 2, "8": 2}, "reptile": {"4": 2, "8": 2}}
    first = json.loads((out / "plain" / "n4" / "seed-1" / "metrics.json").read_text())
    assert report["scores"]["plain"]["4"][0] == first["dev"]["demo_sentiment"]["primary"]
    assert first["run"]["train"]["max_train_examples"] == 4 and first["run"]["train"]["seed"] == 1
    assert "| reptile |" in (out / "meta.md").read_text() and (out / "meta_curve.png").stat().st_size > 1000


def test_meta_training_uses_the_optimizer_the_run_names(tiny_encoder_dir, demo_dir, tmp_path, monkeypatch):
    import mtl_nlp.trainer
    from conftest import write_yaml

    made, real = [], mtl_nlp.trainer.make_optimizer
    monkeypatch.setattr(mtl_nlp.trainer, "make_optimizer",
                        lambda *a, **kw: made.append((kw.get("fused"), kw.get("layer_lr_decay"))) or real(*a, **kw))
    for optimizer, fused, layer_decay in (("adamw_fused", True, None), ("adamw", False, 0.7)):
        run = write_yaml(tmp_path / f"{optimizer}.yaml", {
            "encoder": str(tiny_encoder_dir), "tasks": [str(REPO / "task_configs" / "demo_ner.yaml")], "data_dir": str(demo_dir),
            "output_dir": str(tmp_path / optimizer), "meta": {"inner_steps": 1},
            "train": {"max_steps": 1, "batch_size": 4, "optimizer": optimizer, "layer_lr_decay": layer_decay},
        })
        meta_train(validate_run(run))
        assert made.pop() == (fused, layer_decay)
    run = write_yaml(tmp_path / "own.yaml", {  # the inner loop trains one task: at that task's own decay
        "encoder": str(tiny_encoder_dir), "tasks": [str(REPO / "task_configs" / "demo_ner.yaml")], "data_dir": str(demo_dir),
        "output_dir": str(tmp_path / "own"), "meta": {"inner_steps": 1},
        "train": {"max_steps": 1, "batch_size": 4, "layer_lr_decay": 0.7, "task_layer_lr_decay": {"demo_ner": 0.5}},
    })
    meta_train(validate_run(run))
    assert made.pop() == (True, 0.5)


def test_meta_training_draws_the_dropout_masks_the_run_names(tiny_encoder_dir, demo_dir, tmp_path, monkeypatch):
    import mtl_nlp.meta
    from conftest import write_yaml

    kinds, real = [], mtl_nlp.meta.dropout_masks
    monkeypatch.setattr(mtl_nlp.meta, "dropout_masks", lambda kind: kinds.append(kind) or real(kind))
    for masks in ("torch", "fast"):
        run = write_yaml(tmp_path / f"{masks}.yaml", {
            "encoder": str(tiny_encoder_dir), "tasks": [str(REPO / "task_configs" / "demo_ner.yaml")], "data_dir": str(demo_dir),
            "output_dir": str(tmp_path / masks), "meta": {"inner_steps": 1},
            "train": {"max_steps": 1, "batch_size": 4, "dropout_masks": masks},
        })
        meta_train(validate_run(run))
        assert kinds.pop() == masks


def test_settings_meta_training_does_not_apply_are_named():
    assert settings_not_applied(RunConfig(tasks=[])) == []
    run = RunConfig(tasks=[], sharing=SharingConfig(type="lora", r=4),
                    train=TrainConfig(encoder_until=0.5, warmup_ratio=0.1, layer_lr_decay=0.9, learning_rate=1e-3))
    # warmup_ratio is at its default; the layer decay and the rate are applied
    assert settings_not_applied(run) == ["sharing.type", "sharing.r", "train.encoder_until"]
    assert settings_not_applied(RunConfig(tasks=[], resume_from="latest")) == ["resume_from"]


def test_meta_training_says_which_settings_of_the_run_it_does_not_apply(tiny_encoder_dir, demo_dir, tmp_path, caplog):
    from conftest import write_yaml

    run = write_yaml(tmp_path / "run.yaml", {
        "encoder": str(tiny_encoder_dir), "tasks": [str(REPO / "task_configs" / "demo_ner.yaml")], "data_dir": str(demo_dir),
        "output_dir": str(tmp_path / "out"), "meta": {"inner_steps": 1}, "sharing": {"type": "lora", "train_encoder": True},
        "train": {"max_steps": 2, "batch_size": 4, "warmup_ratio": 0.0, "encoder_until": 0.5},
    })
    with caplog.at_level("WARNING"):
        meta_train(validate_run(run))
    assert f"{run}: meta-train does not apply sharing.type, sharing.train_encoder, train.warmup_ratio, train.encoder_until" in caplog.text
