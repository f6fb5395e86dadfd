import json

import pytest

from conftest import write_yaml
from mtl_nlp.bench.variants import check_comparable, load_variants
from mtl_nlp.errors import ConfigError
from mtl_nlp.validation import validate_run
from scripts_loader import benchmark_main

VARIANTS = {
    "hard": ["sharing.type=hard"],
    "lora": ["sharing.type=lora", "sharing.r=2"],
    "hierarchical": ["sharing.type=hierarchical", "sharing.task_layers={demo_ner: 1}"],
}


def test_one_row_per_variant_beside_the_single_task_baselines(tiny_run, tmp_path):
    run = tiny_run(train={"max_steps": 4, "eval_every": 2})
    variants = write_yaml(tmp_path / "variants.yaml", VARIANTS)
    out = tmp_path / "bench"
    assert benchmark_main([str(run), "--variants", str(variants), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["rows"]) == ["hard", "lora", "hierarchical", "single-task"]
    rows = results["rows"]
    assert rows["lora"]["trainable_parameters"] < rows["hard"]["trainable_parameters"]
    assert rows["lora"]["served_parameters"] > rows["hard"]["served_parameters"]  # the adapters come on top
    assert rows["single-task"]["served_parameters"] > 2 * rows["hard"]["served_parameters"]  # three models
    assert all(r["peak_memory_bytes"] > 0 and set(r["dev"]) == {"demo_ner", "demo_relation", "demo_sentiment"} for r in rows.values())
    assert results["variants"]["hierarchical"]["sharing"]["task_layers"] == {"demo_ner": 1}
    table = (out / "results.md").read_text()
    for name in results["rows"]:
        assert f"| {name} |" in table
    hard_ner = 100 * rows["hard"]["dev"]["demo_ner"][0]
    assert f"| hard | {hard_ner:.2f} |" in table


def test_a_variant_must_train_on_the_same_batches(tiny_run, tmp_path):
    path = tiny_run()
    runs = {"a": validate_run(path), "b": validate_run(path, ["train.max_steps=9", "sampling.type=uniform"])}
    with pytest.raises(ConfigError, match="variant 'b' changes sampling, train.max_steps against 'a'"):
        check_comparable(runs)


def test_a_variant_may_change_how_a_head_reads_learns_and_decodes(tiny_run):
    """Decoding, the head's loss and dropout, and how many sub-words are read at once (max_length, stride) may
    differ; the data may not."""
    path = tiny_run()
    runs = {"a": validate_run(path), "b": validate_run(path, ["task.demo_ner.decoding=viterbi"]),
            "c": validate_run(path, ["task.demo_ner.max_length=16", "task.demo_ner.stride=4"]),
            "e": validate_run(path, ["task.demo_ner.label_smoothing=0.1", "task.demo_ner.head_dropout=0.3"])}
    check_comparable(runs)
    runs["d"] = validate_run(path, ["task.demo_ner.tag_scheme=iob1"])
    with pytest.raises(ConfigError, match="variant 'd' changes tasks"):
        check_comparable(runs)


def test_a_variant_that_is_not_a_list_of_overrides_is_located(tmp_path):
    path = write_yaml(tmp_path / "v.yaml", "hard: [sharing.type=hard]\nlora: sharing.type\n")
    with pytest.raises(ConfigError, match=r"v.yaml:2 lora: must be a list of key=value overrides"):
        load_variants(path)
