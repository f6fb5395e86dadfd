"""Multi-task run plus one single-task baseline per task under the same budget (results.json, results.md, curves.png);
with --variants, one multi-task run per variant of the run YAML; with --merge, one table from runs made apart. Example:
    python scripts/benchmark.py task_configs/runs/benchmark.yaml --data-dir ../shared/data --out outputs/benchmark
"""

import argparse
import shlex
from pathlib import Path

from mtl_nlp.cli import run_command, run_script
from mtl_nlp.errors import ConfigError
from mtl_nlp.validation import validate_run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run YAML")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the run YAML")
    parser.add_argument("--data-dir", help="folder the task files are relative to (overrides data_dir)")
    parser.add_argument("--out", default="outputs/benchmark", help="folder for every run and the report")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13])
    parser.add_argument("--test-dir", help="also score every model on the tasks' test files, relative to this folder")
    parser.add_argument("--no-single", action="store_true", help="only the multi-task run(s)")
    parser.add_argument("--baselines", nargs="+", metavar="TASK", help="single-task baselines only for these tasks (default: every task)")
    parser.add_argument("--no-multitask", action="store_true", help="only the baselines (join them to the run with --merge)")
    parser.add_argument("--variants", help="YAML mapping row names to lists of key=value overrides (one run per row)")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="train nothing: one report from results.json files of this run (another run's lends the baselines they share)")
    args = parser.parse_intermixed_args(argv)  # overrides may come before or after the options

    def body() -> int:
        from mtl_nlp.bench.harness import merge_reports, run_benchmark

        overrides = [*args.overrides, *([f"data_dir={args.data_dir}"] if args.data_dir else [])]
        command = "python scripts/benchmark.py " + " ".join(shlex.quote(a) for a in argv)
        if args.variants:
            from mtl_nlp.bench.variants import load_variants, run_variants

            runs = {name: validate_run(args.run, [*overrides, *extra]) for name, extra in load_variants(args.variants).items()}
            out = run_variants(runs, seeds=args.seeds, out_dir=Path(args.out), single=not args.no_single, command=command)
            print((out / "results.md").read_text())
            return 0
        run = validate_run(args.run, overrides)
        unknown = sorted(set(args.baselines or []) - {t.name for t in run.tasks})
        if unknown:
            raise ConfigError(f"--baselines names {unknown}, not tasks of {args.run}: {[t.name for t in run.tasks]}")
        if args.merge:
            out = merge_reports(run, [Path(f) for f in args.merge], out_dir=Path(args.out), command=command)
        else:
            out = run_benchmark(run, seeds=args.seeds, out_dir=Path(args.out), test_dir=args.test_dir, single=not args.no_single,
                                command=command, baselines=args.baselines, multitask=not args.no_multitask)
        print((out / "results.md").read_text())
        return 0

    return run_command(body)


if __name__ == "__main__":
    run_script(main)  # jemalloc first, where installed (mtl_nlp.allocator)
