"""Training and serving speed beside plain Transformers, side by side in one run (ratios, never absolute times).
Training: our loop against one transformers.Trainer per task on the same examples and settings, FLOP/s against the
matrix-product rate, the data path's share. Serving: our pipeline against three single-task models on the same texts.
Profile: where our step's time goes. Huge pages: THP_MEM_ALLOC_ENABLE off and on. Writes speed.json, speed.md:
    python scripts/benchmark_speed.py task_configs/runs/benchmark.yaml --data-dir ../shared/data --out benchmarks/cpu-2core-speed
"""

import argparse
import sys
from pathlib import Path

from mtl_nlp.cli import run_command

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run YAML naming the training mix, encoder, batch size and learning rate")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the run YAML")
    parser.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    parser.add_argument("--examples", type=int, default=1600, help="training examples per task (one epoch each)")
    parser.add_argument("--texts", type=int, default=800, help="SemEval dev sentences served")
    parser.add_argument("--serving-steps", type=int, default=300, help="training steps of the served model before timing (0: none)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of every system")
    parser.add_argument("--options", nargs="*", metavar="NAME", help="also time our loop with these settings (a wrong name lists them; none named: all)")
    parser.add_argument("--parts", nargs="+", choices=["training", "serving", "profile", "huge_pages"], default=["training", "serving"],
                        help="profile: where our step's time goes (torch.profiler); huge_pages: THP_MEM_ALLOC_ENABLE off/on")
    parser.add_argument("--warmup", type=int, default=6, help="profiled steps left out at the start (kernel set-up)")
    parser.add_argument("--out", default="outputs/benchmark-speed")
    args = parser.parse_args(argv)

    def body() -> int:
        from mtl_nlp.bench.huge_pages import measure_huge_pages
        from mtl_nlp.bench.profile import measure_profile
        from mtl_nlp.bench.serving import measure_serving
        from mtl_nlp.bench.speed import measure, write

        out, overrides = Path(args.out), [*args.overrides, f"data_dir={args.data_dir}"]
        result = {"command": "python scripts/benchmark_speed.py " + " ".join(argv)}
        if "serving" in args.parts:
            result["serving"] = measure_serving(args.run, overrides, REPO / "task_configs", Path(args.data_dir), texts=args.texts,
                                                rounds=args.rounds, batch_size=32, train_steps=args.serving_steps, out_dir=out)
            write(result, out)  # kept if the training part fails
        if "training" in args.parts:
            result["training"] = measure(args.run, overrides, examples=args.examples, rounds=args.rounds, out_dir=out,
                                         options=args.options)
        if "profile" in args.parts:
            result["profile"] = measure_profile(args.run, overrides, examples=args.examples, warmup=args.warmup, out_dir=out)
        if "huge_pages" in args.parts:
            result["huge_pages"] = measure_huge_pages(args.run, overrides, examples=args.examples, rounds=args.rounds, out_dir=out)
        print(write(result, out))
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
