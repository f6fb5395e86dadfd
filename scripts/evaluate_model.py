"""Thin wrapper: `python scripts/evaluate_model.py ...` is `mtl-nlp evaluate ...`."""

import sys

from mtl_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
