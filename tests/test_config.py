from pathlib import Path

import pytest

from conftest import REPO, write_yaml
from mtl_nlp.config import ConfigError, key_lines, load_run, raise_problems
from mtl_nlp.validation import validate_run

TASK = """\
name: sent
type: sequence_classification
format: tsv
files: {train: s/train.tsv, dev: s/dev.tsv}
labels: [negative, positive]
metric: accuracy
"""


def _run(tmp_path: Path, text: str, task: str = TASK) -> Path:
    write_yaml(tmp_path / "sent.yaml", task)
    return write_yaml(tmp_path / "runs" / "r.yaml", text)


def _messages(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        run, problems = load_run(path, overrides)
        raise_problems(problems, "run")
    return str(info.value)


def test_key_lines_maps_nested_keys_to_lines():
    assert key_lines("a: 1\nb:\n  c: 2\n  d: [1, 2]\n") == {"a": 1, "b": 2, "b.c": 3, "b.d": 4}


def test_run_loads_with_defaults_and_task_found_in_parent_folder(tmp_path):
    run, problems = load_run(_run(tmp_path, "tasks: [sent]\ntrain: {max_steps: 7}\n"))
    assert problems == []
    assert run.tasks[0].name == "sent" and run.tasks[0].labels == ["negative", "positive"]
    assert run.train.max_steps == 7 and run.sampling.type == "temperature" and run.encoder == "all-MiniLM-L6-v2"


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path):
    path = _run(tmp_path, "tasks: [sent]\nsampling:\n  type: temperature\n  temperature: -1\ntrain:\n  max_step: 5\n")
    message = _messages(path)
    assert "2 problem(s)" in message
    assert f"{path}:4 sampling.temperature: must be a number > 0, got -1" in message
    assert f"{path}:6 train.max_step: unknown key; did you mean 'max_steps'?" in message


def test_task_file_problems_point_into_the_task_file(tmp_path):
    bad_task = TASK.replace("labels: [negative, positive]", "labels: [neg, neg]").replace("metric", "metrik")
    path = _run(tmp_path, "tasks: [sent]\n", task=bad_task)
    message = _messages(path)
    assert f"{tmp_path / 'sent.yaml'}:5 labels: duplicate labels ['neg']" in message
    assert f"{tmp_path / 'sent.yaml'}:6 metrik: unknown key; did you mean 'metric'?" in message
    assert "metric: required key is missing" in message


def test_unknown_task_name_suggests_the_closest(tmp_path):
    message = _messages(_run(tmp_path, "tasks: [snet]\n"))
    assert "r.yaml:1 tasks: no task file" in message and "did you mean 'sent'?" in message


def test_overrides_are_typed_and_unknown_keys_rejected(tmp_path):
    path = _run(tmp_path, "tasks: [sent]\n")
    run, problems = load_run(path, ["train.learning_rate=1e-4", "train.max_steps=3", "sampling.type=uniform", "output_dir=x"])
    assert problems == [] and run.train.learning_rate == 1e-4 and run.train.max_steps == 3
    assert run.sampling.type == "uniform" and run.output_dir == "x"
    message = _messages(path, ["train.lr=1", "sampling=2", "nonsense"])
    assert "command line train.lr: unknown key" in message
    assert "command line sampling: unknown key" in message
    assert "overrides look like key=value" in message


def test_task_fields_are_overridden_by_task_name_and_checked(tmp_path):
    path = _run(tmp_path, "tasks: [sent]\n")
    run, problems = load_run(path, ["task.sent.pooling=cls", "task.sent.max_length=64"])
    assert problems == [] and run.tasks[0].pooling == "cls" and run.tasks[0].max_length == 64
    message = _messages(path, ["task.snet.pooling=cls", "task.sent.poling=cls", "task.sent=1"])
    assert "command line task.snet: not a task of this run; did you mean 'sent'?" in message
    assert "poling: unknown key; did you mean 'pooling'?" in message
    assert "task overrides look like task.<name>.<field>=value" in message


def test_stride_must_leave_windows_room_to_move(tmp_path):
    path = _run(tmp_path, "tasks: [sent]\n")
    run, problems = load_run(path, ["task.sent.max_length=64", "task.sent.stride=16"])
    assert problems == [] and run.tasks[0].stride == 16
    for bad in ("33", "-1", "eight"):
        message = _messages(path, ["task.sent.max_length=64", f"task.sent.stride={bad}"])
        assert "stride: must be an integer from 0 to half of max_length (64)" in message


def test_mixed_precision_no_survives_yaml_booleans(tmp_path):
    run, problems = load_run(_run(tmp_path, "tasks: [sent]\ntrain: {mixed_precision: no}\n"))
    assert problems == [] and run.train.mixed_precision == "no"


def test_fixed_sampling_needs_a_weight_per_task(tmp_path):
    message = _messages(_run(tmp_path, "tasks: [sent]\nsampling: {type: fixed, weights: {sentt: 1}}\n"))
    assert "sampling.weights.sentt: not a task of this run; did you mean 'sent'?" in message
    assert "missing a weight for task 'sent'" in message


def test_every_shipped_yaml_validates():
    runs = sorted((REPO / "task_configs" / "runs").glob("*.yaml"))
    tasks = sorted((REPO / "task_configs").glob("*.yaml"))
    assert len(runs) + len(tasks) >= 6
    for run in runs:
        validate_run(run, check_files=False)
    names = {t.name for r in runs for t in load_run(r)[0].tasks}
    assert names == {p.stem for p in tasks}, "every task YAML is used by a run, so every one is validated"


def test_sharing_settings_are_checked_with_their_lines(tmp_path):
    path = _run(tmp_path, "tasks: [sent]\nsharing:\n  type: hierarchcal\n  r: 0\n  layers: [0, 2]\n  task_layers: {sentt: 2}\n")
    message = _messages(path)
    assert f"{path}:3 sharing.type: unknown sharing 'hierarchcal'; did you mean 'hierarchical'?" in message
    assert f"{path}:4 sharing.r: must be an integer >= 1, got 0" in message
    assert f"{path}:5 sharing.layers: must be a list of 1-based layer numbers, got [0, 2]" in message
    assert f"{path}:6 sharing.task_layers.sentt: not a task of this run; did you mean 'sent'?" in message
    message = _messages(_run(tmp_path, "tasks: [sent]\nsharing: {type: hierarchical}\n"))
    assert "sharing.task_layers: hierarchical sharing needs the layer each task reads" in message


def test_a_tasks_own_adapter_settings_are_checked_with_their_lines(tmp_path):
    text = ("tasks: [sent]\nsharing:\n  type: lora\n  task_adapters:\n    sent: {r: 0, rank: 4}\n"
            "    snet: {r: 4}\n")
    path = _run(tmp_path, text)
    message = _messages(path)
    assert f"{path}:5 sharing.task_adapters.sent.rank: unknown key; allowed: r, lora_alpha, lora_dropout, target_modules, layer_mix" in message
    assert f"{path}:5 sharing.task_adapters.sent.r: must be an integer >= 1, got 0" in message
    assert f"{path}:6 sharing.task_adapters.snet: not a task of this run; did you mean 'sent'?" in message
    message = _messages(_run(tmp_path, "tasks: [sent]\nsharing: {type: lora, task_adapters: {sent: {}}}\n"))
    assert "sharing.task_adapters.sent: must map some of r, lora_alpha, lora_dropout, target_modules, layer_mix to values" in message
    message = _messages(_run(tmp_path, "tasks: [sent]\nsharing: {type: soft, task_adapters: {sent: {r: 2}}}\n"))
    assert "sharing.task_adapters.sent: per-task adapters are for sharing.type: lora" in message
    run, problems = load_run(_run(tmp_path, "tasks: [sent]\nsharing: {type: lora, r: 16, task_adapters: {sent: {r: 4}}}\n"))
    assert problems == [] and run.sharing.adapter("sent").r == 4 and run.sharing.adapter("other").r == 16
    message = _messages(_run(tmp_path, "tasks: [sent]\nsharing: {type: lora, task_adapters: {sent: {layer_mix: 1}}}\n"))
    assert "sharing.task_adapters.sent.layer_mix: must be true or false, got 1" in message
    message = _messages(_run(tmp_path, "tasks: [sent]\nsharing: {type: hard, layer_mix: true}\n"))
    assert "sharing.layer_mix: a mix of the layers' outputs is for sharing.type attention or lora, not 'hard'" in message


def test_every_shipped_variant_validates_against_its_run():
    from mtl_nlp.bench.variants import check_comparable, load_variants

    run = REPO / "task_configs" / "runs" / "benchmark_sharing.yaml"
    variants = load_variants(REPO / "task_configs" / "variants" / "sharing.yaml")
    assert set(variants) >= {"hard", "lora", "soft", "hierarchical", "attention"}
    check_comparable({name: validate_run(run, overrides, check_files=False) for name, overrides in variants.items()})
    run = REPO / "task_configs" / "runs" / "semeval.yaml"
    variants = load_variants(REPO / "task_configs" / "variants" / "relation_heads.yaml")
    check_comparable({name: validate_run(run, overrides, check_files=False) for name, overrides in variants.items()})
