"""Dev metric of a task left out of training against its number of training examples, fine-tuned from several
starting points (NAME=MODEL: plain encoder, multi-task model, meta-learned folder), several seeds per point.
Writes meta.json, meta.md and meta_curve.png. Example:
    python scripts/benchmark_meta.py task_configs/sst2.yaml --data-dir ../shared/data \
        --start plain=all-MiniLM-L6-v2 --start multi-task=outputs/meta-source --start reptile=outputs/meta-reptile \
        --examples 50 100 200 500 --seeds 1 2 3 --out outputs/benchmark-meta
"""

import argparse
import sys
from pathlib import Path

from mtl_nlp.cli import run_command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="the left-out task's YAML")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--start", action="append", required=True, help="NAME=MODEL (repeat)")
    parser.add_argument("--examples", type=int, nargs="+", default=[50, 100, 200, 500])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--out", default="outputs/benchmark-meta")
    args = parser.parse_args(argv)

    def body() -> int:
        from mtl_nlp.bench.meta_curve import adaptation_curve, write
        from mtl_nlp.config import TrainConfig
        from mtl_nlp.validation import validate_task

        task = validate_task(args.task, args.data_dir)
        starts = dict(s.split("=", 1) for s in args.start)
        recipe = TrainConfig(learning_rate=args.learning_rate, head_learning_rate=1e-3, batch_size=args.batch_size,
                             max_steps=args.steps, eval_every=args.steps, warmup_ratio=0.1)
        command = "python scripts/benchmark_meta.py " + " ".join(argv)  # give paths relative to the repository
        report = adaptation_curve(starts, task, data_dir=args.data_dir, sizes=args.examples, seeds=args.seeds, recipe=recipe,
                                  out_dir=Path(args.out), command=command)
        write(report, Path(args.out))
        print((Path(args.out) / "meta.md").read_text())
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
