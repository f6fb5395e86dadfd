"""Training-step time of the joint entity-relation task with the pair pooling of mtl_nlp.pooling (span_max) versus
the masked max-pool it replaced, side by side on the same real batches (alternating, so machine noise hits both).
Writes results.json and results.md. Example:
    python scripts/benchmark_pooling.py --data-dir ../shared/data --out benchmarks/pooling-cpu
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from mtl_nlp.cli import run_command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="task_configs/runs/conll04.yaml", help="run YAML with a joint_entity_relation task")
    parser.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    parser.add_argument("--out", default="outputs/benchmark-pooling")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args(argv)

    def body() -> int:
        torch.manual_seed(0)
        from mtl_nlp.bench.pooling import measure, table

        command = "python scripts/benchmark_pooling.py " + " ".join(argv)
        result = measure(args.run, args.data_dir, args.batch_size, args.batches, command)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "results.md").write_text(table(result))
        print(table(result))
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
