"""Benchmark tools beside the library: the multi-task vs single-task harness (harness.py, its table and curves in
report.py), variant comparisons (variants.py), the few-example adaptation curve (meta_curve.py) and the joint head's
pooling benchmark (pooling.py). Nothing in the core package imports them; the scripts in scripts/ call them."""
