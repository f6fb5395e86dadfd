"""Few-example adaptation curves: a task left out of training, fine-tuned on N examples from several starting points
(the plain encoder, a multi-task model, a meta-learned initialisation), several seeds per point. Writes meta.json,
meta.md and meta_curve.png."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from mtl_nlp.config import TaskConfig, TrainConfig
from mtl_nlp.meta import adapt_run


def adaptation_curve(starts: dict[str, str], task: TaskConfig, *, data_dir: str, sizes: list[int | None], seeds: list[int],
                     recipe: TrainConfig, out_dir: Path, command: str = "") -> dict:
    """Train (or reuse) one adaptation per start, size and seed; the dev primary metric of each."""
    from mtl_nlp.trainer import train

    scores: dict[str, dict[str, list[float]]] = {}
    for name, model in starts.items():
        for size in sizes:
            for seed in seeds:
                folder = out_dir / name / f"n{size or 'all'}" / f"seed-{seed}"
                if not (folder / "metrics.json").is_file():
                    seeded = TrainConfig(**{**recipe.__dict__, "seed": seed})
                    train(adapt_run(model, task, examples=size, data_dir=data_dir, output_dir=str(folder), train=seeded))
                primary = json.loads((folder / "metrics.json").read_text())["dev"][task.name]["primary"]
                scores.setdefault(name, {}).setdefault(str(size or "all"), []).append(primary)
    return {"command": command, "task": task.name, "metric": task.metric, "starts": starts, "seeds": seeds, "recipe": recipe.__dict__, "scores": scores}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def markdown(report: dict) -> str:
    sizes = list(next(iter(report["scores"].values())))
    lines = [f"{report['task']} dev {report['metric']} (%) after fine-tuning on N examples, mean ± std over seeds "
             f"{report['seeds']}; {report['recipe']['max_steps']} steps of batch {report['recipe']['batch_size']}.", "",
             "| start | " + " | ".join(f"N={n}" for n in sizes) + " |", "| --- |" + " --- |" * len(sizes)]
    for name, by_size in report["scores"].items():
        cells = [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in (_mean_std(by_size[n]) for n in sizes)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    from mtl_nlp.report.figures import figure

    with figure(path) as axis:
        for name, by_size in report["scores"].items():
            sizes = [n for n in by_size if n != "all"]
            stats = [_mean_std(by_size[n]) for n in sizes]
            xs = [int(n) for n in sizes]
            axis.errorbar(xs, [100 * m for m, _ in stats], yerr=[100 * s for _, s in stats], marker="o", capsize=3, label=name)
        axis.set_xscale("log")
        axis.set_xlabel(f"{report['task']} training examples")
        axis.set_ylabel(f"dev {report['metric']} (%)")
        axis.legend()


def write(report: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "meta.md").write_text(markdown(report))
    plot(report, out_dir / "meta_curve.png")
