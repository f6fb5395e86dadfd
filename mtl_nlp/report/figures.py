"""The report's PNGs, each drawn from plain numbers (metrics.json or results.json), never from a model."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def panels(path: Path, count: int, size: tuple[float, float]):
    """``count`` matplotlib axes side by side, gridded, saved to ``path`` and closed on exit (Agg: no screen needed).
    Every PNG of the project (report, model card, benchmark harness) is drawn through here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=size, squeeze=False)
    try:
        yield list(axes[0])
        for axis in axes[0]:
            axis.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


@contextmanager
def figure(path: Path, size: tuple[float, float] = (6.4, 3.6)):
    """One matplotlib axis, saved to ``path`` and closed on exit."""
    with panels(path, 1, size) as (axis,):
        yield axis


def losses(train_losses: list[dict], path: Path, key: str = "loss", label: str = "training loss") -> None:
    """Each task's mean training loss between log lines (or, with key="weight", its loss weight), against the step."""
    tasks = sorted({task for entry in train_losses for task in entry.get(key, {})})
    with figure(path) as axis:
        for task in tasks:
            points = [(e["step"], e[key][task]) for e in train_losses if task in e.get(key, {})]
            axis.plot(*zip(*points), label=task)
        axis.set_xlabel("training step")
        axis.set_ylabel(label)
        axis.legend()


def confusion(task: str, matrix: dict, path: Path) -> None:
    """Gold labels down, predicted labels across, counts in the cells."""
    labels, counts = matrix["labels"], matrix["counts"]
    side = max(3.6, 0.32 * len(labels) + 2.0)
    with figure(path, (side + 1.0, side)) as axis:
        image = axis.imshow(counts, cmap="Blues")
        axis.figure.colorbar(image, ax=axis, fraction=0.046)
        axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        axis.set_yticks(range(len(labels)), labels, fontsize=7)
        if len(labels) <= 12:
            for i, row in enumerate(counts):
                for j, count in enumerate(row):
                    axis.text(j, i, count, ha="center", va="center", fontsize=7, color="white" if count > max(map(max, counts)) / 2 else "black")
        axis.set_xlabel("predicted")
        axis.set_ylabel("gold")
        axis.set_title(f"{task}: confusion on dev")
        axis.grid(False)


def per_type(task: str, scores: dict[str, dict], path: Path) -> None:
    """F1 of each entity or relation type, with its gold count."""
    names = sorted(scores)
    with figure(path, (6.4, max(2.4, 0.35 * len(names) + 1.2))) as axis:
        values = [100 * scores[n]["f1"] for n in names]
        axis.barh(names, values, color="#4c72b0")
        for y, (name, value) in enumerate(zip(names, values)):
            support = scores[name].get("support")
            axis.text(value + 1, y, f"{value:.1f}" + (f" (n={support})" if support is not None else ""), va="center", fontsize=8)
        axis.set_xlim(0, 115)
        axis.set_xlabel("F1 (%)")
        axis.set_title(f"{task}: F1 per type on dev")


def comparison(rows: dict[str, dict[str, tuple[float, float]]], tasks: list[str], path: Path) -> None:
    """Grouped bars: each row (multi-task, a variant, single-task) per task, mean ± std over seeds."""
    width = 0.8 / max(len(rows), 1)
    with figure(path, (max(6.4, 1.6 * len(tasks) + 3), 3.8)) as axis:
        for k, (name, scores) in enumerate(rows.items()):
            xs = [i + (k - (len(rows) - 1) / 2) * width for i in range(len(tasks))]
            means = [100 * scores[t][0] if t in scores else 0.0 for t in tasks]
            stds = [100 * scores[t][1] if t in scores else 0.0 for t in tasks]
            axis.bar(xs, means, width, yerr=stds, label=name, capsize=2)
        lowest = min((100 * s[t][0] for s in rows.values() for t in tasks if t in s), default=0.0)
        axis.set_ylim(max(0.0, lowest - 15), 100)
        axis.set_xticks(range(len(tasks)), tasks)
        axis.set_ylabel("dev primary metric (%)")
        axis.legend(fontsize=8, ncol=min(len(rows), 6), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)


def cosine_heatmap(matrix: dict[str, dict[str, float]], path: Path, title: str = "gradient cosine on the shared encoder") -> None:
    """Pairwise cosine of the tasks' gradients (mean over the measurements): red where tasks pull apart."""
    names = list(matrix)
    values = [[matrix[a][b] for b in names] for a in names]
    side = max(3.6, 0.9 * len(names) + 2.0)
    with figure(path, (side + 1.0, side)) as axis:
        image = axis.imshow(values, cmap="RdBu", vmin=-1, vmax=1)
        axis.figure.colorbar(image, ax=axis, fraction=0.046)
        axis.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        axis.set_yticks(range(len(names)), names, fontsize=8)
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
        axis.set_title(title, fontsize=9)
        axis.grid(False)
