import json

import pytest
import torch

from mtl_nlp.bench.speed import flops_per_token, matmul_rate, measure, table, write
from mtl_nlp.errors import ConfigError


def test_every_system_trains_the_same_examples_and_the_table_says_the_ratios(tiny_run, demo_dir, tmp_path):
    """Tiny encoder, one round: our loop and the Trainers each read every demo example once (so the useful tokens
    agree), and the table reports each of ours against the Trainer from the same round."""
    run = tiny_run()
    result = measure(str(run), [f"data_dir={demo_dir}"], examples=8, rounds=1, out_dir=tmp_path / "speed")
    raw = result["rounds_raw"][0]
    assert raw["ours"]["tokens"] == raw["ours_padded"]["tokens"] == raw["ours_grouped"]["tokens"] == raw["trainer"]["tokens"] > 0
    assert result["steps"] == 3 * 2  # three tasks, 8 examples in batches of 4
    ours, trainer = result["systems"]["ours"], result["systems"]["trainer"]
    assert abs(ours["ratio_to_trainer"] - ours["tokens_per_second"] / trainer["tokens_per_second"]) < 1e-9
    assert 0 < ours["data_path_share"] < 1 and ours["matmul_share"] > 0
    padded = result["systems"]["ours_padded"]["useful_share"]
    assert 0 < padded <= ours["useful_share"] <= 1 and padded <= result["systems"]["ours_grouped"]["useful_share"] <= 1
    text = write({"command": "cmd", "training": result}, tmp_path / "report")
    assert json.loads((tmp_path / "report" / "speed.json").read_text())["training"]["steps"] == 6
    assert text == (tmp_path / "report" / "speed.md").read_text() and text.startswith("Command: `cmd`")
    assert table(result) in text and "transformers.Trainer, one model per task" in text
    assert f"| mtl_nlp, default settings | {ours['tokens_per_second']:.0f} | {ours['ratio_to_trainer']:.2f} (" in text


def test_flops_count_the_layers_matrices_and_attention(tiny_encoder_dir):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(tiny_encoder_dir))
    c = encoder.config
    per_layer = 4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size
    assert flops_per_token(encoder, 10.0) == 6 * c.num_hidden_layers * per_layer + 12 * c.num_hidden_layers * c.hidden_size * 10.0
    assert matmul_rate(size=64, seconds=0.05) > 0
    assert matmul_rate(size=64, seconds=0.05, dtype=torch.bfloat16) > 0


def test_a_gpu_run_is_held_against_the_matrix_rate_of_its_mixed_precision(tiny_run, demo_dir, tmp_path, monkeypatch):
    """On a GPU the ceiling is the mixed-precision product's rate and the table speaks of TFLOP/s; the Trainer
    baseline trains in the same precision as our loop."""
    from mtl_nlp.bench import speed

    seen = {}
    monkeypatch.setattr(speed.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(speed.torch.cuda, "get_device_name", lambda index=0: "Test GPU")
    monkeypatch.setattr(speed, "matmul_rate", lambda size, seconds, device, dtype: seen.update(size=size, dtype=dtype) or 5e14)
    assert speed.ceiling("bf16") == {"device": "Test GPU", "dtype": "bfloat16", "flops_per_second": 5e14}
    assert seen == {"size": 8192, "dtype": torch.bfloat16}
    result = {"tasks": ["a"], "examples_per_task": 8, "batch_size": 4, "rounds": 1, "threads": 2, "matmul_device": "Test GPU",
              "matmul_dtype": "bfloat16", "mixed_precision": "bf16", "matmul_flops_per_second": 5e14,
              "systems": {"trainer": {"label": "T", "tokens_per_second": 10.0, "flops_per_second": 2.5e14, "matmul_share": 0.5}}}
    text = table(result)
    assert "Dense bfloat16 matrix product: 500.0 TFLOP/s" in text and "| T | 10 | 1 | 250.0 | 50% |" in text


def test_the_trainer_baseline_trains_in_the_runs_precision(tiny_run, demo_dir, tmp_path, monkeypatch):
    import transformers

    seen = []
    real = transformers.TrainingArguments

    def spy(*args, **kwargs):
        seen.append((kwargs["bf16"], kwargs["fp16"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers, "TrainingArguments", spy)
    from mtl_nlp.bench.speed import trainer

    trainer(str(tiny_run()), [f"data_dir={demo_dir}", "train.max_train_examples=4", "train.mixed_precision=bf16"], tmp_path)
    assert seen and set(seen) == {(True, False)}


def test_each_option_is_a_row_with_its_effect_against_the_default_loop(tiny_run, demo_dir, tmp_path):
    result = measure(str(tiny_run()), [f"data_dir={demo_dir}"], examples=8, rounds=1, out_dir=tmp_path / "speed",
                     options=["eager"])  # one named option: compiling would be slow here
    raw, eager = result["rounds_raw"][0], result["systems"]["ours_eager"]
    assert raw["ours_eager"]["tokens"] == raw["ours"]["tokens"]
    speed_of = {name: raw[name]["tokens"] / raw[name]["seconds"] for name in ("ours", "ours_eager")}
    assert abs(eager["ratio_to_default"] - speed_of["ours_eager"] / speed_of["ours"]) < 1e-9
    assert f"| mtl_nlp, attention: eager (plain PyTorch attention instead of SDPA) ({eager['ratio_to_default']:.2f}x the default loop) |" in table(result)


def test_options_are_chosen_by_name_all_when_none_is_named():
    from mtl_nlp.bench.speed import OPTIONS, chosen_options

    assert chosen_options(None) == {} and chosen_options([]) == OPTIONS
    assert list(chosen_options(["fast_dropout", "ours_eager"])) == ["ours_fast_dropout", "ours_eager"]
    with pytest.raises(ConfigError, match="unknown quick; choose from eager, workers, compile, unfused, fast_dropout"):
        chosen_options(["quick"])


def test_the_trainer_baseline_is_plain_transformers_when_our_tagger_reads_casing(tiny_run, demo_dir, tmp_path):
    from mtl_nlp.bench.speed import trainer

    timed = trainer(str(tiny_run()), [f"data_dir={demo_dir}", "train.max_train_examples=4", "task.demo_ner.case_features=true"], tmp_path)
    assert timed["tokens"] > 0 and timed["seconds"] > 0
