"""``mtl-nlp report RUN_DIR``: PNGs and one self-contained HTML page for a training run or a harness output folder.

A training run is read from its metrics.json (dev history, training losses, per-type scores, confusion counts); a
harness folder from its results.json and results.md (every run, the comparison with single-task). Nothing here loads
a model or data, so a report can be made anywhere the folder is copied.
"""

from __future__ import annotations

import json
from pathlib import Path

from mtl_nlp.errors import ConfigError
from mtl_nlp.hub import draw_curves
from mtl_nlp.report import figures
from mtl_nlp.report.page import markdown_tables, page, table

PAGE = "report.html"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the figures and ``report.html`` into ``out`` (default ``RUN_DIR/report``); returns the page."""
    folder = Path(run_dir)
    out = Path(out) if out else folder / "report"
    if (folder / "metrics.json").is_file():
        title, intro, tables, images, settings = _training(json.loads((folder / "metrics.json").read_text()), out)
    elif (folder / "results.json").is_file():
        results = json.loads((folder / "results.json").read_text())
        markdown = (folder / "results.md").read_text() if (folder / "results.md").is_file() else ""
        title, intro, tables, images, settings = _harness(results, markdown, out)
    else:
        raise ConfigError(f"{folder}: no metrics.json (a training run) or results.json (a benchmark folder) to report on")
    path = out / PAGE
    path.write_text(page(f"{title}: {folder.name}", intro, tables, images, settings), encoding="utf-8")
    return path


def _task_figures(dev: dict[str, dict], out: Path, run: str = "") -> list[tuple[Path, str]]:
    """Per-type F1 bars and confusion matrices of whichever tasks' scores carry them."""
    images, prefix = [], f"{run}_" if run else ""
    for task, scores in dev.items():
        label = f"{run}: {task}" if run else task
        if scores.get("per_type"):
            figures.per_type(label, scores["per_type"], out / f"{prefix}per_type_{task}.png")
            images.append((out / f"{prefix}per_type_{task}.png", f"{label}: F1 per type (dev, best checkpoint)"))
        if scores.get("confusion"):
            figures.confusion(label, scores["confusion"], out / f"{prefix}confusion_{task}.png")
            images.append((out / f"{prefix}confusion_{task}.png", f"{label}: confusion matrix (dev, best checkpoint)"))
    return images


def _cosine_figure(gradient: dict, out: Path, name: str, prefix: str) -> list[tuple[Path, str]]:
    if not gradient.get("mean_cosine"):
        return []
    figures.cosine_heatmap(gradient["mean_cosine"], out / name)
    return [(out / name, f"{prefix}cosine similarity of the tasks' gradients on the shared parameters "
                         f"(mean of {len(gradient['cosines'])} measurements; negative: the tasks pull apart)")]


def _training(metrics: dict, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    run_tasks = {t["name"]: t for t in metrics.get("run", {}).get("tasks", [])}
    final = metrics.get("final_dev", {})
    rows = [[task, run_tasks.get(task, {}).get("metric", ""), f"{100 * s['primary']:.2f}",
             f"{100 * final[task]['primary']:.2f}" if task in final else "–"] for task, s in metrics["dev"].items()]
    tables = [table(["task", "metric", f"dev, best checkpoint (step {metrics['best_step']})", "dev, last evaluation"], rows)]
    images = []
    if metrics.get("history"):
        draw_curves(metrics["history"], out / "dev_curves.png")
        images.append((out / "dev_curves.png", "Dev primary metric of every task during training"))
    if metrics.get("train_losses"):
        figures.losses(metrics["train_losses"], out / "train_losses.png")
        images.append((out / "train_losses.png", "Training loss per task"))
        weights = [e.get("weight", {}) for e in metrics["train_losses"]]
        if any(w != weights[0] for w in weights):  # learned or dynamic loss weights
            figures.losses(metrics["train_losses"], out / "loss_weights.png", key="weight", label="loss weight")
            images.append((out / "loss_weights.png", "Loss weight per task during training"))
    images += _task_figures(metrics["dev"], out)
    images += _cosine_figure(metrics.get("gradient", {}), out, "gradient_cosine.png", "")
    intro = (f"{metrics.get('steps', '?')} steps, {metrics.get('train_seconds', 0):.0f} s of training, "
             f"{metrics.get('train_tokens_per_second', 0):.0f} training tokens/s. Figures are percentages.")
    return "Training run", intro, tables, images, metrics.get("run", {})


def _harness(results: dict, markdown: str, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    tables = [table(header, rows, f"results-{i}") for i, (header, rows) in enumerate(markdown_tables(markdown))]
    tasks = list(results["train_sizes"])
    if "rows" in results:  # variants: one row per variant (and the single-task baselines where they ran)
        rows = {name: row["dev"] for name, row in results["rows"].items()}
    else:
        summary = results["summary"]
        rows = {"multi-task": {t: s["multitask_dev"] for t, s in summary.items() if s.get("multitask_dev")},
                "single-task": {t: s["single_dev"] for t, s in summary.items() if s.get("single_dev")}}
    rows = {name: scores for name, scores in rows.items() if scores}
    figures.comparison(rows, tasks, out / "comparison.png")
    images = [(out / "comparison.png", "Dev primary metric per task: each run against single-task (mean ± std over seeds)")]
    for name, by_seed in results["runs"].items():
        first = next(iter(by_seed.values()))
        if first.get("history") and not name.startswith("single-"):
            draw_curves(first["history"], out / f"curves_{name}.png")
            images.append((out / f"curves_{name}.png", f"{name}: dev metrics during training (seed {next(iter(by_seed))})"))
            images += _task_figures(first["dev"], out, name)
            images += _cosine_figure(first.get("gradient", {}), out, f"{name}_gradient_cosine.png", f"{name}: ")
    intro = f"Command: {results.get('command', '?')}. Seeds: {results.get('seeds')}. Figures are percentages."
    return "Benchmark", intro, tables, images, results.get("run") or results.get("variants", {})
