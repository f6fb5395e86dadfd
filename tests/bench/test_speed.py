import json

from mtl_nlp.bench.speed import flops_per_token, matmul_rate, measure, table, write


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


def test_each_option_is_a_row_with_its_effect_against_the_default_loop(tiny_run, demo_dir, tmp_path, monkeypatch):
    from mtl_nlp.bench import speed

    monkeypatch.setattr(speed, "OPTIONS", {"ours_eager": speed.OPTIONS["ours_eager"]})  # compiling would be slow here
    result = measure(str(tiny_run()), [f"data_dir={demo_dir}"], examples=8, rounds=1, out_dir=tmp_path / "speed", options=True)
    raw, eager = result["rounds_raw"][0], result["systems"]["ours_eager"]
    assert raw["ours_eager"]["tokens"] == raw["ours"]["tokens"]
    speed_of = {name: raw[name]["tokens"] / raw[name]["seconds"] for name in ("ours", "ours_eager")}
    assert abs(eager["ratio_to_default"] - speed_of["ours_eager"] / speed_of["ours"]) < 1e-9
    assert f"| mtl_nlp, attention: eager (plain PyTorch attention instead of SDPA) ({eager['ratio_to_default']:.2f}x the default loop) |" in table(result)
