"""Train a run YAML; works as `python scripts/train.py RUN.yaml ...` and `accelerate launch scripts/train.py ...`."""

from mtl_nlp.cli import main, run_script

if __name__ == "__main__":
    run_script(lambda argv: main(["train", *argv]))  # jemalloc first, where installed (mtl_nlp.allocator)
