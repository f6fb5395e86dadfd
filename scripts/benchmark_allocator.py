"""A long training run with evaluations under glibc's malloc and under jemalloc at the same time, each pinned to a
core of its own with one thread, the cores swapped each round, or with --alternate one after another with every core
(ratios from one run). Writes allocator.json and .md:
    python scripts/benchmark_allocator.py task_configs/runs/all_benchmarks.yaml --data-dir ../shared/data --rounds 2 \\
        --conf oversize_threshold:1,dirty_decay_ms:-1,muzzy_decay_ms:-1 --out outputs/benchmark-allocator
"""

import argparse
import sys
from pathlib import Path

from mtl_nlp.cli import run_command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run YAML (its dev splits are evaluated, as in a real run)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the run YAML")
    parser.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    parser.add_argument("--steps", type=int, default=1200, help="training steps of each allocator's run")
    parser.add_argument("--eval-every", type=int, default=400, help="steps between its evaluations")
    parser.add_argument("--conf", default="", help="jemalloc's MALLOC_CONF (default: jemalloc's own defaults)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the cores swapped between them")
    parser.add_argument("--alternate", action="store_true",
                        help="one after another, each with every core (A B, B A, ...), instead of one core each at once")
    parser.add_argument("--out", default="outputs/benchmark-allocator")
    args = parser.parse_args(argv)

    def body() -> int:
        from mtl_nlp.bench.allocator import measure_allocator, write

        result = measure_allocator(args.run, [*args.overrides, f"data_dir={args.data_dir}"], steps=args.steps,
                                   eval_every=args.eval_every, rounds=args.rounds, out_dir=Path(args.out), malloc_conf=args.conf,
                                   alternate=args.alternate)
        print(write({"command": "python scripts/benchmark_allocator.py " + " ".join(argv), **result}, Path(args.out)))
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
