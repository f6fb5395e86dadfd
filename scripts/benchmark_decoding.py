"""Per-word argmax against constrained Viterbi decoding for the tagging tasks of trained models, on one split; with
--relation-thresholds, also the joint tasks' relation F1 at each threshold. Both are inference only, so every figure
of a model scores the same weights. Writes decoding.json and decoding.md. Example:
    python scripts/benchmark_decoding.py outputs/benchmark-sharing/*/multitask/seed-13 --tasks conll2003 \
        --data-dir ../shared/data --out benchmarks/cpu-2core-decoding
"""

import argparse
import json
import sys
from pathlib import Path

from mtl_nlp.cli import run_command

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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="trained model folders")
    parser.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    parser.add_argument("--tasks", nargs="+", required=True, help="the tagging tasks to score")
    parser.add_argument("--relation-thresholds", type=float, nargs="+", default=[],
                        help="joint tasks: also score the relations at each of these thresholds")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out", default="outputs/benchmark-decoding")
    args = parser.parse_args(argv)

    def body() -> int:
        rows = [row for model in args.models for row in decoding_rows(model, args.tasks, args.data_dir, args.split)]
        swept = [row for model in args.models if args.relation_thresholds
                 for row in threshold_rows(model, args.tasks, args.data_dir, args.split, args.relation_thresholds)]
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        record = {"split": args.split, "rows": rows, "relation_thresholds": swept}
        (out / "decoding.json").write_text(json.dumps(record, indent=2) + "\n")
        text = markdown(rows, args.split)
        if swept:
            text += "\n" + threshold_markdown(swept, args.relation_thresholds, args.split)
        (out / "decoding.md").write_text(text)
        print((out / "decoding.md").read_text())
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
