"""Thin wrapper: `python scripts/validate.py ...` is `mtl-nlp validate ...`."""

import sys

from mtl_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
