"""Thin wrapper: `python scripts/predict.py ...` is `mtl-nlp predict ...`."""

import sys

from mtl_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
