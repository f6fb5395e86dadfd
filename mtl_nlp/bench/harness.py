"""Multi-task versus single-task: the same encoder, hyper-parameters and examples seen per task, over seeds.

Each single-task baseline trains for exactly as many steps as its task got batches in the multi-task run with the
same seed (the task sampler is deterministic, so that count is known before training), with the same batch size,
learning rates and warm-up ratio. Finished runs are reused when their recorded config matches, so an interrupted
benchmark continues where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import platform
import statistics
from collections import Counter
from pathlib import Path

from mtl_nlp.config import (
    GradientConfig,
    MetaConfig,
    RunConfig,
    SamplingConfig,
    SharingConfig,
    TaskConfig,
    TrainConfig,
    WeightingConfig,
)
from mtl_nlp.errors import ConfigError

logger = logging.getLogger(__name__)  # used before any Accelerator exists (runs reused from disk)


def task_steps(run: RunConfig, sizes: dict[str, int], seed: int) -> dict[str, int]:
    """How many batches each task gets in the multi-task run with ``seed`` (replaying its sampler)."""
    from mtl_nlp.sampling import sampler_for

    sampler = sampler_for(run.sampling, sizes, seed=seed, total_steps=run.train.max_steps)
    draws = Counter(next(sampler) for _ in range(run.train.max_steps * run.train.gradient_accumulation_steps * sampler.per_step))
    return {name: draws[name] for name in sizes}


def plan(run: RunConfig, sizes: dict[str, int], seeds: list[int], out_dir: Path, single: bool = True,
         baselines: list[str] | None = None, multitask: bool = True) -> list[tuple[str, int, RunConfig]]:
    """(name, seed, run) for every training the benchmark needs: the multi-task run, then one run per task (per task
    named in ``baselines``, when given: a pairing that asks about one task need not retrain the other alone). Without
    ``multitask``, the baselines alone: their step counts come from replaying the sampler, not from the run itself.
    A baseline fine-tunes the whole encoder (hard sharing, unweighted loss) whatever the run's sharing and weighting,
    so every strategy is measured against the same single-task models."""
    jobs = []
    for seed in seeds:
        if multitask:
            jobs.append(("multitask", seed, _variant(run, seed=seed, output_dir=out_dir / "multitask" / f"seed-{seed}")))
        if not single:
            continue
        evals = max(1, math.ceil(run.train.max_steps / run.train.eval_every))
        for name, micro_steps in task_steps(run, sizes, seed).items():
            if baselines is not None and name not in baselines:
                continue
            steps = max(1, micro_steps // run.train.gradient_accumulation_steps)
            single_run = _variant(run, seed=seed, output_dir=out_dir / f"single-{name}" / f"seed-{seed}")
            single_run.tasks = [t for t in run.tasks if t.name == name]
            single_run.sampling = SamplingConfig()  # one task: how tasks would be mixed does not change the run
            # nor how tasks share the encoder: the baseline is the plain fine-tune a user would run for that task alone
            single_run.sharing = SharingConfig()
            single_run.weighting = WeightingConfig()  # nor how the tasks' losses are weighted against each other
            single_run.train.adapter_learning_rate = None
            decay = run.train.decay_for(name)  # the task's own, as in its multi-task steps; 1 is none: the same job
            single_run.train.layer_lr_decay = None if decay == 1 else decay
            single_run.train.task_layer_lr_decay = {}
            single_run.train.max_steps = steps
            single_run.train.eval_every = max(1, math.ceil(steps / evals))
            single_run.data_dirs = {k: v for k, v in run.data_dirs.items() if k == name}
            jobs.append((f"single-{name}", seed, single_run))
    return jobs


def _variant(run: RunConfig, *, seed: int, output_dir: Path) -> RunConfig:
    out = copy.deepcopy(run)
    out.train.seed = seed
    out.output_dir = str(output_dir)
    return out


def _comparable(run: RunConfig) -> dict:
    data = dataclasses.asdict(run)
    for key in ("output_dir", "path", "resume_from"):
        data.pop(key)
    for task in data["tasks"]:
        task.pop("source")
    return data


SECTIONS = (("sharing", SharingConfig), ("sampling", SamplingConfig), ("weighting", WeightingConfig),
            ("gradient", GradientConfig), ("meta", MetaConfig), ("train", TrainConfig))


def _default(field: dataclasses.Field):
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def with_new_defaults(recorded: dict) -> dict:
    """A run recorded before a config field existed ran as that field's default says: add it, so it compares equal."""
    out = copy.deepcopy(recorded)
    out.setdefault("trust_remote_code", False)
    out.setdefault("attention", None)
    out.setdefault("train", {}).setdefault("optimizer", "adamw")  # runs recorded before the setting used plain AdamW
    out["train"].setdefault("pack_sequences", False)  # and padded batches
    for key, cls in SECTIONS:
        for field in dataclasses.fields(cls):
            out.setdefault(key, {}).setdefault(field.name, _default(field))
    optional = [f for f in dataclasses.fields(TaskConfig) if f.name != "source" and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)]
    for task in out.get("tasks", []):
        if task.get("relation_features") == ["markers"]:  # recorded when [markers] was every task's default
            task["relation_features"] = None
        for field in optional:
            task.setdefault(field.name, _default(field))
    return out


def same_run(recorded: dict, run: RunConfig) -> bool:
    """Whether a run recorded as JSON (metrics.json or results.json) trained what ``run`` would train."""
    recorded = {k: v for k, v in with_new_defaults(recorded).items() if k not in ("output_dir", "path", "resume_from")}
    return recorded == json.loads(json.dumps(_comparable(run)))  # as JSON keeps it (milestone steps become strings)


def recorded_run(recorded: dict) -> RunConfig:
    """The run a record describes (``run`` in results.json), with fields added since at their defaults."""
    data = with_new_defaults(recorded)
    sections = {key: cls(**data[key]) for key, cls in SECTIONS}
    sections["sampling"].milestones = {int(step): w for step, w in sections["sampling"].milestones.items()}  # JSON keys
    scalars = {key: data[key] for key in ("encoder", "data_dir", "data_dirs", "trust_remote_code", "attention")}
    return RunConfig(tasks=[TaskConfig(**task) for task in data["tasks"]], **scalars, **sections)


def baseline_jobs(run: RunConfig, sizes: dict[str, int], seeds: list[int]) -> dict[tuple[str, int], dict]:
    """(name, seed) -> the config of every single-task baseline the benchmark of ``run`` trains, as records keep it."""
    jobs = plan(run, sizes, seeds, Path("."), multitask=False)
    return {(name, seed): json.loads(json.dumps(_comparable(job))) for name, seed, job in jobs}


def run_or_reuse(job: RunConfig) -> dict:
    """Train ``job`` unless its output folder already holds a finished run of exactly this config."""
    from mtl_nlp.trainer import train

    metrics_file = Path(job.output_dir) / "metrics.json"
    if metrics_file.is_file():
        summary = json.loads(metrics_file.read_text())
        if same_run(summary["run"], job):
            logger.info(f"reusing the finished run in {job.output_dir}")
            return summary
        raise ConfigError(f"{metrics_file} holds a run with another config; remove that folder or choose another --out")
    train(job)
    return json.loads(metrics_file.read_text())


def parameter_counts(model_dir: str) -> tuple[int, int]:
    """(trainable, all) parameters of a saved model: what training updated, and what serving its tasks loads."""
    from mtl_nlp.modeling import MultiTaskModel

    model = MultiTaskModel.from_pretrained(model_dir)
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


def run_record(job: RunConfig, summary: dict) -> dict:
    """What the reports need of one finished run."""
    trainable, served = parameter_counts(job.output_dir)
    return {
        "dev": summary["dev"],
        "history": summary["history"],
        "best_step": summary["best_step"],
        "steps": summary["steps"],
        "train_seconds": summary["train_seconds"],
        "eval_seconds": summary.get("eval_seconds"),
        "train_tokens_per_second": summary["train_tokens_per_second"],
        "peak_memory_bytes": summary.get("peak_memory_bytes"),
        "sharing": summary.get("sharing", {}),
        "gradient": summary.get("gradient", {}),
        "weighting": summary.get("weighting", {}),
        "trainable_parameters": trainable,
        "served_parameters": served,
        "output_dir": job.output_dir,
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: dict[str, dict[int, dict]], tasks: list[str], test: bool) -> dict[str, dict]:
    """Per task: the multi-task and single-task primary metric over seeds (mean, std) and their difference, for the
    kept checkpoints and for the last evaluation (``*_dev_last``). The multi-task run keeps one checkpoint by the
    tasks' mean dev score, a baseline its own best, which favours the baseline; at the last evaluation neither is
    chosen on dev."""
    out = {}
    for task in tasks:
        row = {}
        for name in ("multitask", f"single-{task}"):
            if name not in results:
                continue
            kind = "multitask" if name == "multitask" else "single"
            for split in ("dev", "test") if test else ("dev",):
                values = [r[split][task]["primary"] for r in results[name].values() if task in r.get(split, {})]
                if values:
                    row[f"{kind}_{split}"] = mean_std(values)
                    row[f"{kind}_{split}_seeds"] = len(values)
            last = [r["history"][-1]["dev"][task]["primary"] for r in results[name].values()
                    if r.get("history") and task in r["history"][-1]["dev"]]
            if last:
                row[f"{kind}_dev_last"] = mean_std(last)
                row[f"{kind}_dev_last_seeds"] = len(last)
            row[f"{kind}_seconds"] = statistics.fmean(r["train_seconds"] for r in results[name].values())
            row[f"{kind}_tokens_per_second"] = statistics.fmean(r["train_tokens_per_second"] for r in results[name].values())
            row[f"{kind}_parameters"] = next(iter(results[name].values()))["trainable_parameters"]
        for key in ("dev", "dev_last"):
            if f"multitask_{key}" in row and f"single_{key}" in row:
                row[f"difference_{key}"] = row[f"multitask_{key}"][0] - row[f"single_{key}"][0]
        out[task] = row
    return out


def environment() -> dict:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    return {"device": device, "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def train_sizes(run: RunConfig) -> dict[str, int]:
    from mtl_nlp.data import training_split
    from mtl_nlp.tasks import build_task

    return {t.name: len(training_split(t, build_task(t), run.data_dir_for(t.name), examples=run.train.max_train_examples,
                                       seed=run.train.seed)) for t in run.tasks}


def run_benchmark(run: RunConfig, *, seeds: list[int], out_dir: Path, test_dir: str | None, single: bool, command: str,
                  baselines: list[str] | None = None, multitask: bool = True) -> Path:
    """Train (or reuse) every run of the benchmark, score it, and write results.json, results.md and curves.png."""
    from mtl_nlp.evaluation import evaluate_model

    if not (multitask or single):
        raise ConfigError("neither the multi-task run nor a baseline is asked for (--no-multitask with --no-single): drop one")
    sizes = train_sizes(run)
    results: dict[str, dict[int, dict]] = {}
    for name, seed, job in plan(run, sizes, seeds, out_dir, single, baselines, multitask):
        record = run_record(job, run_or_reuse(job))
        if test_dir:
            answers = Path(job.output_dir) / "test_predictions"
            record["test"] = evaluate_model(job.output_dir, data_dir=test_dir, split="test", predictions_dir=str(answers))
        results.setdefault(name, {})[seed] = record
    return write_report(run, results, seeds=seeds, sizes=sizes, out_dir=out_dir, command=command, test=bool(test_dir))


def write_report(run: RunConfig, results: dict[str, dict[int, dict]], *, seeds: list[int], sizes: dict[str, int],
                 out_dir: Path, command: str, test: bool, env: dict | None = None) -> Path:
    """results.json, results.md, curves.png (and the gradient cosines where measured) from finished runs' records."""
    from mtl_nlp.bench.report import markdown_report, plot_curves

    tasks = [t.name for t in run.tasks]
    report = {
        "command": command,
        "run": _comparable(run),
        "seeds": seeds,
        "train_sizes": sizes,
        "task_steps": {seed: task_steps(run, sizes, seed) for seed in seeds},
        "environment": env or environment(),
        "summary": summarise(results, tasks, test=test),
        "runs": {name: {str(seed): r for seed, r in sorted(by_seed.items())} for name, by_seed in results.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown_report(report, {t.name: t.metric for t in run.tasks}))
    plot_curves(report, run.train.batch_size, out_dir / "curves.png")
    draw_cosines(report["runs"].get("multitask", {}), out_dir / "gradient_cosine.png")
    return out_dir


def merge_reports(run: RunConfig, files: list[Path], *, out_dir: Path, command: str) -> Path:
    """One table from seeds trained by separate invocations (another session, or baselines after the multi-task run).
    Every file must come from the same device, and one at least must record this run; another run's record lends
    only the baselines this run would train exactly so (a baseline depends on the other tasks only through the
    batches its task gets). No run may come twice."""
    reports = []
    for file in files:
        if not Path(file).is_file():
            raise ConfigError(f"--merge: {file} does not exist; give the results.json that a benchmark wrote")
        reports.append(json.loads(Path(file).read_text()))
    own = [report for report in reports if same_run(report["run"], run)]
    if not own:
        raise ConfigError(f"--merge: no file records the run config of {run.path}; give at least one results.json of this run "
                          "(with the same overrides)")
    sizes, device = own[0]["train_sizes"], own[0]["environment"]["device"]
    results: dict[str, dict[int, dict]] = {}
    for file, report in zip(files, reports):
        if report["environment"]["device"] != device:
            raise ConfigError(f"{file}: its device differs from the others'; merge only runs of the same device")
        if same_run(report["run"], run):
            if report["train_sizes"] != sizes:
                raise ConfigError(f"{file}: its training sizes differ from the others'; merge only runs of the same data")
            kept = report["runs"]
        else:
            kept = shared_baselines(report, run, sizes)
            if not kept:
                raise ConfigError(f"{file} records another run config than {run.path}, and none of its baselines is one this run "
                                  "trains; merge records of one run YAML with the same overrides")
        for name, by_seed in kept.items():
            for seed, record in by_seed.items():
                if int(seed) in results.get(name, {}):
                    raise ConfigError(f"{file}: {name} seed {seed} is in another merged file too; give each run once")
                results.setdefault(name, {})[int(seed)] = record
    seeds = sorted({seed for by_seed in results.values() for seed in by_seed})
    test = any("test" in r for by_seed in results.values() for r in by_seed.values())
    counts = [report["environment"]["torch_threads"] for report in reports]  # a merged record's may be a list already
    threads = sorted({n for count in counts for n in (count if isinstance(count, list) else [count])})
    env = {**own[0]["environment"], "torch_threads": threads[0] if len(threads) == 1 else threads}  # the table says both
    return write_report(run, results, seeds=seeds, sizes=sizes, out_dir=out_dir, command=command, test=test, env=env)


def shared_baselines(report: dict, run: RunConfig, sizes: dict[str, int]) -> dict[str, dict[str, dict]]:
    """The baselines of another run's record that ``run`` would train exactly so, on a training split of the same size."""
    seeds = [int(seed) for seed in report["seeds"]]
    theirs = baseline_jobs(recorded_run(report["run"]), report["train_sizes"], seeds)
    ours = baseline_jobs(run, sizes, seeds)
    kept: dict[str, dict[str, dict]] = {}
    for name, by_seed in report["runs"].items():
        task = name.removeprefix("single-")
        for seed, record in by_seed.items():
            key = (name, int(seed))
            if key in ours and ours[key] == theirs.get(key) and report["train_sizes"].get(task) == sizes.get(task):
                kept.setdefault(name, {})[seed] = record
    return kept


def draw_cosines(by_seed: dict[str, dict], path: Path) -> None:
    """The multi-task run's mean gradient cosines as a heat map, where the run measured them (first seed)."""
    from mtl_nlp.report.figures import cosine_heatmap

    first = next(iter(by_seed.values()), {})
    if first.get("gradient", {}).get("mean_cosine"):
        cosine_heatmap(first["gradient"]["mean_cosine"], path)
