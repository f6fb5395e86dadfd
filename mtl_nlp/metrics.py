"""The one place metrics are loaded. Our metric modules ship inside the package and load through ``evaluate`` from
their local path, so nothing is fetched from the Hub at run time (huggingface/evaluate#315)."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

import evaluate

MODULES = Path(__file__).parent / "metric_modules"
# metric name -> (module folder, primary score used to pick the best checkpoint)
METRICS: dict[str, tuple[str, str]] = {
    "seqeval": ("seqeval_strict", "f1"),
    "accuracy": ("classification", "accuracy"),
    "macro_f1": ("classification", "macro_f1"),
    "relation_f1": ("relation_f1", "micro_f1"),
    "semeval2010_task8": ("semeval2010_task8", "macro_f1"),
    "conll04": ("spert_strict", "relation_f1"),
}

# What each metric's primary figure is, in words (model cards, reports).
DESCRIPTIONS: dict[str, str] = {
    "seqeval": "entity micro-F1 (seqeval, strict IOB2)",
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "relation_f1": "relation micro-F1 without the negative class",
    "semeval2010_task8": "official macro-F1 ((9+1)-way, directed, Other excluded)",
    "conll04": "strict relation micro-F1 (SpERT)",
}


def unknown_metric_message(name: str) -> str:
    hint = difflib.get_close_matches(name, METRICS, n=1)
    return f"unknown metric {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "") + (
        f" Known metrics: {', '.join(sorted(METRICS))}."
    )


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    folder, _ = METRICS[name]
    return evaluate.load(str(MODULES / folder))


def compute(name: str, predictions: list, references: list, *, labels: list[str], negative_label: str | None) -> dict:
    """Score predictions; the result always holds ``primary``, the figure the trainer ranks checkpoints by."""
    metric = load_metric(name)
    kwargs = {}
    if name in ("accuracy", "macro_f1", "relation_f1"):
        kwargs["labels"] = labels
    if name == "relation_f1":
        kwargs["negative_label"] = negative_label
    scores = metric.compute(predictions=predictions, references=references, **kwargs)
    scores["primary"] = scores[METRICS[name][1]]
    if labels and predictions and all(isinstance(x, str) for x in [*predictions, *references]) and {*predictions, *references} <= set(labels):
        scores["confusion"] = confusion(predictions, references, labels)
    return scores


def confusion(predictions: list[str], references: list[str], labels: list[str]) -> dict:
    """Counts of (gold, predicted) label pairs for one-label-per-example tasks: rows gold, columns predicted."""
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for predicted, gold in zip(predictions, references):
        counts[index[gold]][index[predicted]] += 1
    return {"labels": list(labels), "counts": counts}
