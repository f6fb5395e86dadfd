"""Variants of one run compared on the same tasks, batches and budget (sharing strategies, for example): one table row
per variant with every task's dev metric, parameters, training time, throughput and peak memory.

A variants file maps a row name to the ``key=value`` overrides that make it from the run YAML:

    hard: [sharing.type=hard]
    lora: [sharing.type=lora, sharing.r=8]
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from mtl_nlp.bench.harness import _comparable, environment, plan, run_or_reuse, run_record, task_steps, train_sizes
from mtl_nlp.bench.report import device_line
from mtl_nlp.config import RunConfig, read_yaml
from mtl_nlp.errors import ConfigError

# What a variant may not change: the tasks and the batches each task gets. It may change how a task's head reads the
# encoder, learns and decodes, and how many sub-words the encoder reads at once (task.<name>.<field>=... for these).
SAME_DATA = ("tasks", "data_dir", "data_dirs", "sampling")
HEAD_FIELDS = ("decoding", "relation_features", "relation_threshold", "pooling", "max_length", "stride",
               "label_smoothing", "head_dropout", "case_features")
SAME_BUDGET = ("batch_size", "max_steps", "gradient_accumulation_steps", "seed")


def load_variants(path: str | Path) -> dict[str, list[str]]:
    """Read a variants file: a mapping of row names to lists of ``key=value`` strings."""
    data, lines = read_yaml(Path(path))
    for name, overrides in data.items():
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"{path}:{lines.get(str(name))} {name}: must be a list of key=value overrides, e.g. "
                              "[sharing.type=lora, sharing.r=8]", path=str(path), line=lines.get(str(name)))
    return {str(name): overrides for name, overrides in data.items()}


def check_comparable(runs: dict[str, RunConfig]) -> None:
    """Every variant trains the same tasks on the same batches; only how it learns from them may differ."""
    first_name, first = next(iter(runs.items()))
    reference = _data_and_budget(first)
    for name, run in runs.items():
        data = _data_and_budget(run)
        changed = [k for k in SAME_DATA if data[k] != reference[k]]
        changed += [f"train.{k}" for k in SAME_BUDGET if data["train"][k] != reference["train"][k]]
        if changed:
            raise ConfigError(f"variant {name!r} changes {', '.join(changed)} against {first_name!r}: variants must see the "
                              "same tasks and batches; put such changes in the run YAML instead")


def _data_and_budget(run: RunConfig) -> dict:
    data = _comparable(run)
    for task in data["tasks"]:
        for key in HEAD_FIELDS:
            task.pop(key)
    return data


def run_variants(runs: dict[str, RunConfig], *, seeds: list[int], out_dir: Path, single: bool, command: str) -> Path:
    """Train (or reuse) each variant's multi-task run, and with ``single`` the single-task baselines once; write
    results.json and results.md in ``out_dir``."""
    check_comparable(runs)
    first = next(iter(runs.values()))
    sizes = train_sizes(first)
    results: dict[str, dict[int, dict]] = {}
    for name, run in runs.items():
        for _, seed, job in plan(run, sizes, seeds, out_dir / name, single=False):
            results.setdefault(name, {})[seed] = run_record(job, run_or_reuse(job))
    baselines = [job for job in plan(first, sizes, seeds, out_dir, single=single) if job[0] != "multitask"]
    for name, seed, job in baselines:
        results.setdefault(name, {})[seed] = run_record(job, run_or_reuse(job))
    tasks = [t.name for t in first.tasks]
    report = {
        "command": command,
        "variants": {name: _comparable(run) for name, run in runs.items()},
        "seeds": seeds,
        "train_sizes": sizes,
        "task_steps": {seed: task_steps(first, sizes, seed) for seed in seeds},
        "environment": environment(),
        "rows": variant_rows(results, list(runs), tasks),
        "runs": {name: {str(seed): r for seed, r in by_seed.items()} for name, by_seed in results.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "results.md").write_text(variants_markdown(report, {t.name: t.metric for t in first.tasks}))
    return out_dir


def _mean_std(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def variant_rows(results: dict[str, dict[int, dict]], variants: list[str], tasks: list[str]) -> dict[str, dict]:
    """Per row: each task's dev primary metric (mean, std over seeds) and the model-level costs. The single-task row
    adds up its models: parameters served and training time are totals, peak memory the largest."""
    rows = {}
    for name in variants:
        by_seed = list(results[name].values())
        rows[name] = _costs(by_seed, len(by_seed)) | {
            "dev": {t: _mean_std([r["dev"][t]["primary"] for r in by_seed]) for t in tasks},
        }
    singles = {t: list(results[f"single-{t}"].values()) for t in tasks if f"single-{t}" in results}
    if len(singles) == len(tasks):
        per_seed = [[by_seed[i] for by_seed in singles.values()] for i in range(len(next(iter(singles.values()))))]
        rows["single-task"] = {
            "dev": {t: _mean_std([r["dev"][t]["primary"] for r in singles[t]]) for t in tasks},
            "trainable_parameters": sum(by_seed[0]["trainable_parameters"] for by_seed in singles.values()),
            "served_parameters": sum(by_seed[0]["served_parameters"] for by_seed in singles.values()),
            "train_seconds": statistics.fmean(sum(r["train_seconds"] for r in seed_runs) for seed_runs in per_seed),
            "train_tokens_per_second": statistics.fmean(
                sum(r["train_tokens_per_second"] * r["train_seconds"] for r in runs) / sum(r["train_seconds"] for r in runs)
                for runs in per_seed
            ),
            "peak_memory_bytes": max((r.get("peak_memory_bytes") or 0) for runs in per_seed for r in runs) or None,
        }
    return rows


def _costs(by_seed: list[dict], seeds: int) -> dict:
    return {
        "trainable_parameters": by_seed[0]["trainable_parameters"],
        "served_parameters": by_seed[0]["served_parameters"],
        "train_seconds": statistics.fmean(r["train_seconds"] for r in by_seed),
        "train_tokens_per_second": statistics.fmean(r["train_tokens_per_second"] for r in by_seed),
        "peak_memory_bytes": max((r.get("peak_memory_bytes") or 0) for r in by_seed) or None,
    }


def variants_markdown(report: dict, metrics: dict[str, str]) -> str:
    """The comparison table: a row per variant (and the single-task baselines), Δ against the first row."""
    rows, tasks = report["rows"], list(metrics)
    first = next(iter(rows.values()))
    seeds, env = len(report["seeds"]), report["environment"]
    head = "| variant | " + " | ".join(f"{t} ({metrics[t]})" for t in tasks)
    head += " | trainable params | params served (all tasks) | training time (min) | training tokens/s | peak memory (GiB) |"
    lines = [
        device_line(env, report["seeds"]),
        f"Dev figures in percent (mean ± std over seeds where more than one); in brackets the difference to the first "
        f"row, {next(iter(rows))!r}. Training time excludes evaluation.",
        "",
        head,
        "|" + " --- |" * (head.count("|") - 1),
    ]
    for name, row in rows.items():
        cells = [name]
        for task in tasks:
            mean, std = row["dev"][task]
            cell = f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if seeds > 1 else "")
            if row is not first:
                cell += f" ({100 * (mean - first['dev'][task][0]):+.2f})"
            cells.append(cell)
        memory = row.get("peak_memory_bytes")
        cells += [
            f"{row['trainable_parameters'] / 1e6:.2f}M",
            f"{row['served_parameters'] / 1e6:.2f}M",
            f"{row['train_seconds'] / 60:.1f}",
            f"{row['train_tokens_per_second']:.0f}",
            "–" if not memory else f"{memory / 2**30:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)
