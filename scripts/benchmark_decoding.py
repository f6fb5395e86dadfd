"""Per-word argmax against constrained Viterbi decoding for the tagging tasks of trained models, on one split.
Decoding is inference only, so both rows score the same weights. Writes decoding.json and decoding.md. Example:
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="trained model folders")
    parser.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    parser.add_argument("--tasks", nargs="+", required=True, help="the tagging tasks to score")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out", default="outputs/benchmark-decoding")
    args = parser.parse_args(argv)

    def body() -> int:
        from mtl_nlp.evaluation import evaluate_model

        rows = []
        for model in args.models:
            scores = {d: evaluate_model(model, data_dir=args.data_dir, split=args.split, tasks=args.tasks, decoding=d) for d in DECODINGS}
            for task, result in scores["argmax"].items():
                for metric in [m for m in ("f1", "entity_f1", "relation_f1") if m in result]:
                    rows.append({"model": model, "task": task, "metric": metric, **{d: scores[d][task][metric] for d in DECODINGS}})
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "decoding.json").write_text(json.dumps({"split": args.split, "rows": rows}, indent=2) + "\n")
        (out / "decoding.md").write_text(markdown(rows, args.split))
        print((out / "decoding.md").read_text())
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
