"""Train a run YAML; works as `python scripts/train.py RUN.yaml ...` and `accelerate launch scripts/train.py ...`."""

import sys

from mtl_nlp.allocator import preload_jemalloc
from mtl_nlp.cli import main

if __name__ == "__main__":
    preload_jemalloc()  # first: MTL_NLP_ALLOCATOR=jemalloc (mtl_nlp.allocator)
    sys.exit(main(["train", *sys.argv[1:]]))
