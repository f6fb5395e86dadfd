"""The benchmark's Markdown table and learning-curve figure, made from results.json alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def _cell(value: tuple[float, float] | None, seeds: int) -> str:
    if value is None:
        return "–"
    mean, std = value
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if seeds > 1 else f"{100 * mean:.2f}"


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}K"


def _difference(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.2f}"


def _number(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def device_line(env: dict, seeds: list[int]) -> str:
    """The table's first line; ``torch_threads`` is a list where merged runs used several counts."""
    threads = env["torch_threads"]
    threads = f"{threads} threads" if isinstance(threads, int) else (
        " or ".join(map(str, threads)) + " threads by run, so the training times of runs do not compare")
    return f"Device: {env['device']}, torch {env['torch']} with {threads}. Seeds: {seeds}."


def markdown_report(report: dict, metrics: dict[str, str]) -> str:
    """One row per task: primary metric for multi-task and single-task (mean ± std over seeds), the difference,
    trainable parameters, training wall time and training tokens per second."""
    seeds = len(report["seeds"])
    has_test = any("multitask_test" in row for row in report["summary"].values())
    head = "| task | metric | multi-task dev | single-task dev | Δ dev |"
    head += " multi-task test | single-task test |" if has_test else ""
    head += " params multi / single | training time multi / single (s) | training tokens/s multi / single |"
    lines = [
        device_line(report["environment"], report["seeds"]),
        "Figures are percentages; Δ is multi-task minus single-task. The multi-task training time (wall clock,",
        "evaluation excluded) and parameters are those of the one model that serves every task. A figure without ±",
        "is one seed's.",
        "",
        head,
        "|" + " --- |" * (head.count("|") - 1),
    ]
    for task, row in report["summary"].items():
        cells = [
            task, metrics[task], *(_cell(row.get(key), row.get(f"{key}_seeds", seeds)) for key in ("multitask_dev", "single_dev")),
            _difference(row.get("difference_dev")),
        ]
        if has_test:
            cells += [_cell(row.get(key), row.get(f"{key}_seeds", seeds)) for key in ("multitask_test", "single_test")]
        cells += [
            " / ".join(_count(row.get(f"{kind}_parameters")) for kind in ("multitask", "single")),
            " / ".join(_number(row.get(f"{kind}_seconds")) for kind in ("multitask", "single")),
            " / ".join(_number(row.get(f"{kind}_tokens_per_second")) for kind in ("multitask", "single")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += last_evaluation_table(report)
    lines += evaluations_table(report)
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def last_evaluation_table(report: dict) -> list[str]:
    """The same comparison at every run's last evaluation, where no checkpoint was chosen on dev (empty for
    records without learning curves)."""
    seeds = len(report["seeds"])
    rows = [(task, row) for task, row in report["summary"].items() if "multitask_dev_last" in row or "single_dev_last" in row]
    if not rows:
        return []
    lines = [
        "",
        "At the last evaluation of every run: the table above keeps, for the multi-task model, the one checkpoint with",
        "the best mean dev score over its tasks and, for each single-task model, its own best, which favours the",
        "single-task models; here no checkpoint is chosen on dev.",
        "",
        "| task | multi-task dev, last | single-task dev, last | Δ dev, last |",
        "| --- | --- | --- | --- |",
    ]
    for task, row in rows:
        cells = [task, *(_cell(row.get(key), row.get(f"{key}_seeds", seeds)) for key in ("multitask_dev_last", "single_dev_last")),
                 _difference(row.get("difference_dev_last"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def evaluations_table(report: dict) -> list[str]:
    """Each run's dev figure at every evaluation, task by task, so a curve reads without the figure and a kept step
    can be checked against the ones around it (empty for records without learning curves)."""
    rows = []
    for task in report["summary"]:
        for name, kind in (("multitask", "multi-task"), (f"single-{task}", "single-task")):
            for seed, record in report["runs"].get(name, {}).items():
                history = [h for h in record.get("history") or [] if task in h["dev"]]
                if history:
                    rows.append(f"| {task} | {kind} | {seed} | {_curve(history, task, record.get('best_step'))} |")
    if not rows:
        return []
    return ["", "Dev at each evaluation (step: figure; the kept checkpoint in bold):", "",
            "| task | model | seed | dev at each evaluation |", "| --- | --- | --- | --- |", *rows]


def _curve(history: list[dict], task: str, kept: int | None) -> str:
    cells = [f"{h['step']}: {100 * h['dev'][task]['primary']:.2f}" for h in history]
    return ", ".join(f"**{cell}**" if h["step"] == kept else cell for h, cell in zip(history, cells))


def examples_seen(history_steps: list[int], draws: list[str], task: str, batch_size: int, per_step: int = 1) -> list[int]:
    """Training examples of ``task`` seen by each evaluation step, from the replayed task sequence (``per_step``
    draws per optimiser step)."""
    return [Counter(draws[: step * per_step])[task] * batch_size for step in history_steps]


def plot_curves(report: dict, batch_size: int, path) -> None:
    """Per task, dev primary metric against that task's examples seen: multi-task and single-task, first seed."""
    from mtl_nlp.config import SamplingConfig
    from mtl_nlp.report.figures import panels
    from mtl_nlp.sampling import sampler_for

    tasks = list(report["summary"])
    seed = report["seeds"][0]
    multi = report["runs"].get("multitask", {}).get(str(seed))
    sampling = SamplingConfig(**report["run"]["sampling"])
    sampler = sampler_for(sampling, report["train_sizes"], seed=seed, total_steps=report["run"]["train"]["max_steps"])
    draws = [next(sampler) for _ in range((multi["steps"] if multi else 0) * sampler.per_step)]
    with panels(Path(path), len(tasks), (5 * len(tasks), 3.6)) as axes:
        for axis, task in zip(axes, tasks):
            if multi:
                steps = [h["step"] for h in multi["history"]]
                axis.plot(examples_seen(steps, draws, task, batch_size, sampler.per_step), [100 * h["dev"][task]["primary"] for h in multi["history"]], "o-", label="multi-task")
            single = report["runs"].get(f"single-{task}", {}).get(str(seed))
            if single:
                axis.plot([h["step"] * batch_size for h in single["history"]], [100 * h["dev"][task]["primary"] for h in single["history"]], "s--", label="single-task")
            axis.set_title(task)
            axis.set_xlabel(f"{task} training examples seen")
            axis.set_ylabel("dev primary metric (%)")
            axis.legend()
