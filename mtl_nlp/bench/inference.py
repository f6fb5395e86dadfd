"""Inference-only settings read on the same trained weights (scripts/benchmark_decoding.py): per-word argmax against
constrained Viterbi for tagging tasks, and the joint tasks' relation F1 at several relation thresholds."""

from __future__ import annotations

DECODINGS = ("argmax", "viterbi")


def markdown(rows: list[dict], split: str) -> str:
    lines = [f"Strict F1 (%) on {split}: the same weights read with two decodings.", "",
             "| model | task | metric | argmax | viterbi | Δ |", "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        a, v = (100 * row[d] for d in DECODINGS)
        lines.append(f"| {row['model']} | {row['task']} | {row['metric']} | {a:.2f} | {v:.2f} | {v - a:+.2f} |")
    return "\n".join(lines) + "\n"


def threshold_markdown(rows: list[dict], thresholds: list[float], split: str) -> str:
    lines = [f"Relation F1 (%) on {split} as saved (the most likely label) and with each relation threshold.", "",
             "| model | task | as saved | " + " | ".join(f"{t:g}" for t in thresholds) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in thresholds) + " |"]
    for row in rows:
        cells = " | ".join(f"{100 * row['thresholds'][str(t)]:.2f}" for t in thresholds)
        lines.append(f"| {row['model']} | {row['task']} | {100 * row['saved']:.2f} | {cells} |")
    return "\n".join(lines) + "\n"


def decoding_rows(model: str, tasks: list[str], data_dir: str, split: str) -> list[dict]:
    from mtl_nlp.evaluation import evaluate_model

    scores = {d: evaluate_model(model, data_dir=data_dir, split=split, tasks=tasks, decoding=d) for d in DECODINGS}
    return [{"model": model, "task": task, "metric": metric, **{d: scores[d][task][metric] for d in DECODINGS}}
            for task, result in scores["argmax"].items() for metric in ("f1", "entity_f1", "relation_f1") if metric in result]


def threshold_rows(model: str, tasks: list[str], data_dir: str, split: str, thresholds: list[float]) -> list[dict]:
    from mtl_nlp.evaluation import evaluate_model

    saved = evaluate_model(model, data_dir=data_dir, split=split, tasks=tasks)
    by = {t: evaluate_model(model, data_dir=data_dir, split=split, tasks=tasks, relation_threshold=t) for t in thresholds}
    return [{"model": model, "task": task, "saved": result["relation_f1"],
             "thresholds": {str(t): by[t][task]["relation_f1"] for t in thresholds}}
            for task, result in saved.items() if "relation_f1" in result]
