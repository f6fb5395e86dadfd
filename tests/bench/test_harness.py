import json
from pathlib import Path

import pytest
import yaml

from mtl_nlp.bench.harness import merge_reports, plan, task_steps, train_sizes, write_report
from mtl_nlp.errors import ConfigError
from mtl_nlp.validation import validate_run
from scripts_loader import benchmark_main


def test_single_task_baselines_get_the_batches_their_task_got(tiny_run, tmp_path):
    run = validate_run(tiny_run(sampling={"type": "temperature", "temperature": 2.0}, train={"max_steps": 40, "eval_every": 10}))
    sizes = {"demo_ner": 100, "demo_relation": 50, "demo_sentiment": 25}
    steps = task_steps(run, sizes, seed=5)
    assert sum(steps.values()) == 40 and steps == task_steps(run, sizes, seed=5)
    jobs = plan(run, sizes, [5], tmp_path)
    assert [name for name, _, _ in jobs] == ["multitask", "single-demo_ner", "single-demo_relation", "single-demo_sentiment"]
    for name, _seed, job in jobs[1:]:
        task = name.removeprefix("single-")
        assert [t.name for t in job.tasks] == [task] and job.train.max_steps == steps[task] and job.train.seed == 5
        assert job.train.learning_rate == run.train.learning_rate and job.train.batch_size == run.train.batch_size
    only = plan(run, sizes, [5], tmp_path, baselines=["demo_relation"])  # a pairing that asks about one task
    assert [name for name, _, _ in only] == ["multitask", "single-demo_relation"] and only[1][2] == jobs[2][2]
    alone = plan(run, sizes, [5], tmp_path, baselines=["demo_relation"], multitask=False)  # joined later by --merge
    assert [(name, job) for name, _, job in alone] == [("single-demo_relation", jobs[2][2])]


def test_the_sizes_the_sampler_is_replayed_with_are_the_rows_the_trainer_trains_on(tmp_path):
    from mtl_nlp.config import load_run

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "semeval2010_task8").mkdir()
    (tmp_path / "semeval2010_task8" / "train.txt").write_bytes((repo / "tests" / "assets" / "semeval_sample.txt").read_bytes())
    yaml = repo / "task_configs" / "semeval2010_task8.yaml"
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(f"encoder: x\ntasks: [{yaml}]\ndata_dir: {tmp_path}\n")
    as_read, _ = load_run(run_yaml)
    swapped, problems = load_run(run_yaml, ["task.semeval2010_task8.swapped_pairs=true"])
    assert problems == [] and train_sizes(as_read) == {"semeval2010_task8": 3}
    assert train_sizes(swapped) == {"semeval2010_task8": 6}  # what the trainer's sampler will see
    fewer, _ = load_run(run_yaml, ["task.semeval2010_task8.swapped_pairs=true", "train.max_train_examples=2"])
    assert train_sizes(fewer) == {"semeval2010_task8": 4}  # the trainer's seeded subset, then its swapped pairs


def test_a_benchmark_that_trains_nothing_is_refused(tiny_run, tmp_path, capsys):
    assert benchmark_main([str(tiny_run()), "--no-multitask", "--no-single", "--out", str(tmp_path)]) == 2
    assert "neither the multi-task run nor a baseline" in capsys.readouterr().err


def test_a_baseline_is_the_same_run_whatever_the_task_mixing(tiny_run, tmp_path):
    """Same batches per task, other sampling settings: the single-task jobs are equal, so a benchmark reuses them."""
    sizes = {"demo_ner": 100, "demo_relation": 50, "demo_sentiment": 25}
    weights = {name: n ** 0.5 for name, n in sizes.items()}
    runs = [validate_run(tiny_run(sampling=s, train={"max_steps": 40})) for s in
            ({"type": "temperature", "temperature": 2.0}, {"type": "fixed", "weights": weights})]
    first, second = (plan(run, sizes, [5], tmp_path) for run in runs)
    assert first[0][2].sampling != second[0][2].sampling
    assert [job for _, _, job in first[1:]] == [job for _, _, job in second[1:]]


def test_a_baseline_is_the_plain_fine_tune_whatever_the_sharing_and_weighting(tiny_run, tmp_path):
    """Per-task adapters and loss weights are multi-task choices: each is measured against the same single-task
    models."""
    sizes = {"demo_ner": 100, "demo_relation": 50, "demo_sentiment": 25}
    hard = validate_run(tiny_run(train={"max_steps": 40}))
    adapted_weighted = validate_run(tiny_run(sharing={"type": "lora", "train_encoder": True},
                                             train={"max_steps": 40, "adapter_learning_rate": 1e-3},
                                             weighting={"weights": {"demo_relation": 2.0}}))
    first, second = (plan(run, sizes, [5], tmp_path) for run in (hard, adapted_weighted))
    assert second[0][2].sharing.type == "lora" and second[0][2].train.adapter_learning_rate == 1e-3
    assert second[0][2].weighting.weights == {"demo_relation": 2.0}
    assert [job for _, _, job in first[1:]] == [job for _, _, job in second[1:]]
    assert all(job.sharing.type == "hard" and job.train.adapter_learning_rate is None and not job.weighting.weights
               for _, _, job in second[1:])


def test_a_baseline_trains_at_its_tasks_own_layer_decay(tiny_run, tmp_path):
    """A task's own decay is how its steps train: its baseline uses it, the others the run's, so a baseline trained
    without the per-task setting (and its decay) is the same job and can be lent."""
    sizes = {"demo_ner": 100, "demo_relation": 50, "demo_sentiment": 25}
    own = validate_run(tiny_run(train={"max_steps": 40, "layer_lr_decay": 0.9, "task_layer_lr_decay": {"demo_sentiment": None}}))
    jobs = {name: job for name, _, job in plan(own, sizes, [5], tmp_path)}
    assert [jobs[f"single-{t}"].train.layer_lr_decay for t in sizes] == [0.9, 0.9, None]
    assert not any(job.train.task_layer_lr_decay for name, job in jobs.items() if name != "multitask")
    plain = {name: job for name, _, job in plan(validate_run(tiny_run(train={"max_steps": 40})), sizes, [5], tmp_path)}
    assert jobs["single-demo_sentiment"] == plain["single-demo_sentiment"]
    one = validate_run(tiny_run(train={"max_steps": 40, "layer_lr_decay": 0.9, "task_layer_lr_decay": {"demo_sentiment": 1.0}}))
    assert {name: job for name, _, job in plan(one, sizes, [5], tmp_path)}["single-demo_sentiment"] == plain["single-demo_sentiment"]


def test_benchmark_writes_results_table_and_curves_and_reuses_runs(tiny_run, tmp_path, capsys):
    run = tiny_run(train={"max_steps": 6, "eval_every": 3}, gradient={"cosine_every": 3})
    out = tmp_path / "bench"
    assert benchmark_main([str(run), "--out", str(out), "--seeds", "1", "2"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["runs"]) == {"multitask", "single-demo_ner", "single-demo_relation", "single-demo_sentiment"}
    row = results["summary"]["demo_sentiment"]
    assert len(row["multitask_dev"]) == 2 and "difference_dev" in row and row["multitask_parameters"] > row["single_parameters"]
    table = (out / "results.md").read_text()
    assert "| demo_ner | seqeval |" in table and "±" in table and (out / "curves.png").stat().st_size > 1000
    assert (out / "gradient_cosine.png").stat().st_size > 1000  # negative transfer at a glance, beside the table
    before = (out / "multitask" / "seed-1" / "model.safetensors").stat().st_mtime
    assert benchmark_main([str(run), "--out", str(out), "--seeds", "1", "--no-single"]) == 0
    assert (out / "multitask" / "seed-1" / "model.safetensors").stat().st_mtime == before


def test_a_run_recorded_before_a_config_field_existed_is_still_reused(tiny_run, tmp_path):
    from mtl_nlp.bench.harness import _comparable, with_new_defaults

    job = validate_run(tiny_run())
    recorded = _comparable(job)
    del recorded["tasks"][0]["decoding"], recorded["sharing"]["layer_mix"], recorded["train"]["adapter_learning_rate"]
    del recorded["weighting"], recorded["gradient"], recorded["sampling"]["sizes"], recorded["tasks"][1]["relation_features"]
    del recorded["attention"], recorded["train"]["length_window"]
    recorded["tasks"][0]["relation_features"] = ["markers"]  # every task's default then; the task type's default now
    assert recorded != _comparable(job) and with_new_defaults(recorded) == _comparable(job)
    changed = _comparable(job)
    changed["tasks"][0]["decoding"] = "viterbi"
    assert with_new_defaults(changed) != _comparable(job)  # a field set to another value still differs


def _record(score: float) -> dict:
    dev = {task: {"primary": score} for task in ("demo_ner", "demo_relation", "demo_sentiment")}
    return {"dev": dev, "history": [{"step": 4, "dev": dev}], "steps": 4, "train_seconds": 10.0,
            "train_tokens_per_second": 100.0, "trainable_parameters": 1000}


def test_seeds_run_apart_merge_into_one_table_and_foreign_records_are_refused(tiny_run, tmp_path):
    """A long benchmark's seeds come from separate sessions: merged, they give the mean and spread of all of them."""
    path = tiny_run()
    run = validate_run(path)
    sizes = {"demo_ner": 10, "demo_relation": 10, "demo_sentiment": 10}
    env = {"device": "CPU (test)", "torch_threads": 2, "torch": "x", "python": "3"}
    parts = {1: {"multitask": {1: _record(0.5)}}, 2: {"multitask": {2: _record(0.7)}, "single-demo_ner": {2: _record(0.6)}}}
    for seed, results in parts.items():
        write_report(run, results, seeds=[seed], sizes=sizes, out_dir=tmp_path / f"s{seed}", command="c", test=False,
                     env={**env, "torch_threads": seed})  # seed 2 ran beside another run, one thread each
    files = [str(tmp_path / f"s{seed}" / "results.json") for seed in parts]
    assert benchmark_main([str(path), "--merge", *files, "--out", str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert merged["seeds"] == [1, 2] and set(merged["runs"]["multitask"]) == {"1", "2"}
    mean, std = merged["summary"]["demo_ner"]["multitask_dev"]
    assert abs(mean - 0.6) < 1e-9 and abs(std - 0.1414) < 1e-3 and merged["summary"]["demo_ner"]["single_dev"] == [0.6, 0.0]
    table = (tmp_path / "merged" / "results.md").read_text()
    assert "| 60.00 ± 14.14 | 60.00 | +0.00 |" in table  # the baseline has one seed: no spread is claimed for it
    assert merged["environment"]["torch_threads"] == [1, 2] and "with 1 or 2 threads by run, so" in table
    merge_reports(run, [tmp_path / "merged" / "results.json"], out_dir=tmp_path / "again", command="c")  # a merged record merges
    assert json.loads((tmp_path / "again" / "results.json").read_text())["environment"]["torch_threads"] == [1, 2]
    other = validate_run(tiny_run(train={"max_steps": 8}))  # another config: its record must not join this table
    write_report(other, parts[1], seeds=[1], sizes=sizes, out_dir=tmp_path / "other", command="c", test=False, env=env)
    elsewhere = {**env, "device": "NVIDIA H200"}  # training times of two machines do not average
    write_report(run, {"multitask": {3: _record(0.9)}}, seeds=[3], sizes=sizes, out_dir=tmp_path / "gpu", command="c", test=False, env=elsewhere)
    refused = {
        "in another merged file": [*files, files[0]],
        "does not exist": [str(tmp_path / "none.json")],
        "another run config": [files[0], str(tmp_path / "other" / "results.json")],
        "no file records the run config": [str(tmp_path / "other" / "results.json")],
        "device differs": [files[0], str(tmp_path / "gpu" / "results.json")],
    }
    for message, bad in refused.items():
        with pytest.raises(ConfigError, match=message):
            merge_reports(run, [Path(f) for f in bad], out_dir=tmp_path / "bad", command="c")


def test_the_report_also_compares_every_runs_last_evaluation_where_no_checkpoint_was_chosen_on_dev(tiny_run, tmp_path):
    """A baseline keeps its own best checkpoint and the multi-task model one for all its tasks; the last evaluation
    compares the two without that advantage."""
    run = validate_run(tiny_run())
    sizes = {"demo_ner": 10, "demo_relation": 10, "demo_sentiment": 10}
    env = {"device": "CPU (test)", "torch_threads": 2, "torch": "x", "python": "3"}

    def record(kept: float, last: float) -> dict:
        return {**_record(kept), "history": [{"step": 2, "dev": _record(kept)["dev"]}, {"step": 4, "dev": _record(last)["dev"]}]}

    results = {"multitask": {1: record(0.80, 0.75), 2: record(0.82, 0.79)}, "single-demo_ner": {1: record(0.90, 0.80), 2: record(0.88, 0.78)}}
    write_report(run, results, seeds=[1, 2], sizes=sizes, out_dir=tmp_path, command="c", test=False, env=env)
    row = json.loads((tmp_path / "results.json").read_text())["summary"]["demo_ner"]
    assert row["multitask_dev_last"][0] == pytest.approx(0.77) and row["single_dev_last"][0] == pytest.approx(0.79)
    assert row["difference_dev"] == pytest.approx(-0.08) and row["difference_dev_last"] == pytest.approx(-0.02)
    table = (tmp_path / "results.md").read_text()
    assert "| demo_ner | 77.00 ± 2.83 | 79.00 ± 1.41 | -2.00 |" in table
    assert "| demo_relation | 77.00 ± 2.83 | – | – |" in table  # no baseline was trained for it


def test_another_runs_record_lends_the_baselines_this_run_would_train_exactly_so(tiny_run, tmp_path):
    """Two runs that differ in one task's config give the other tasks the same baselines: a merge takes those from
    the other run's record, never its multi-task run or the changed task's baseline."""
    sizes = {"demo_ner": 10, "demo_relation": 10, "demo_sentiment": 10}
    env = {"device": "CPU (test)", "torch_threads": 2, "torch": "x", "python": "3"}
    path = tiny_run()
    first, second = validate_run(path), validate_run(path, ["task.demo_sentiment.max_length=32"])
    baselines = {f"single-{task}": {1: _record(0.4)} for task in sizes}
    write_report(first, {"multitask": {1: _record(0.5)}, **baselines}, seeds=[1], sizes=sizes, out_dir=tmp_path / "a", command="c",
                 test=False, env=env)
    write_report(second, {"multitask": {1: _record(0.7)}}, seeds=[1], sizes=sizes, out_dir=tmp_path / "b", command="c", test=False, env=env)
    merge_reports(second, [tmp_path / "b" / "results.json", tmp_path / "a" / "results.json"], out_dir=tmp_path / "m", command="c")
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    assert set(merged["runs"]) == {"multitask", "single-demo_ner", "single-demo_relation"}
    assert merged["runs"]["multitask"]["1"]["dev"]["demo_ner"]["primary"] == 0.7
    assert merged["summary"]["demo_ner"]["single_dev"] == [0.4, 0.0] and "single_dev" not in merged["summary"]["demo_sentiment"]


def test_the_readme_summary_record_is_what_the_shipped_four_task_yaml_trains():
    """The README's summary table is the harness's record of all_benchmarks.yaml as shipped: a change to the YAML
    needs a new record (or the old one's overrides), and the README must name the record it quotes."""
    import re

    from conftest import REPO
    from mtl_nlp.bench.harness import same_run

    readme = (REPO / "README.md").read_text()
    summary = readme[readme.index("### Summary: one model for all four benchmarks"):]
    folder = re.search(r"^Record: `(benchmarks/[^`]+)/`", summary, re.MULTILINE).group(1)
    record = json.loads((REPO / folder / "results.json").read_text())
    assert same_run(record["run"], validate_run(REPO / "task_configs" / "runs" / "all_benchmarks.yaml", check_files=False))
    mean, _ = record["summary"]["semeval2010_task8"]["multitask_dev"]
    assert f"{100 * mean:.2f} ±" in summary.split("\n\n")[1]  # the table quotes this record's SemEval mean


def _four_task_records() -> dict[str, list[str]]:
    from conftest import REPO

    return yaml.safe_load((REPO / "benchmarks" / "all_benchmarks_records.yaml").read_text())


@pytest.mark.parametrize("record", sorted(_four_task_records()))
def test_each_earlier_four_task_record_repeats_with_the_overrides_its_list_names(record):
    """benchmarks/all_benchmarks_records.yaml tells a reader how to repeat each earlier record with today's YAML (and
    the YAML's comment points there): those overrides must make it train exactly what that record trained."""
    from conftest import REPO
    from mtl_nlp.bench.harness import same_run

    yaml_path = REPO / "task_configs" / "runs" / "all_benchmarks.yaml"
    assert "benchmarks/all_benchmarks_records.yaml" in yaml_path.read_text()
    recorded = json.loads((REPO / "benchmarks" / record / "results.json").read_text())["run"]
    overrides = _four_task_records()[record]

    def repeats(overrides: list[str]) -> bool:
        try:
            return same_run(recorded, validate_run(yaml_path, overrides, check_files=False))
        except ConfigError:  # without one override another no longer applies: that one is needed too
            return False

    assert repeats(overrides)
    for dropped in range(len(overrides)):  # and none of them is there for nothing
        assert not repeats(overrides[:dropped] + overrides[dropped + 1:]), overrides[dropped]
