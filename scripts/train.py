"""Train a run YAML; works as `python scripts/train.py RUN.yaml ...` and `accelerate launch scripts/train.py ...`."""

import sys

from mtl_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
