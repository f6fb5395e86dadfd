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

from mtl_nlp.bench.inference import decoding_rows, markdown, threshold_markdown, threshold_rows
from mtl_nlp.cli import run_command


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
