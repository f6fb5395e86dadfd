"""Imports the thin scripts in scripts/ (not a package) so tests can call their main()."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("benchmark_script", Path(__file__).parent.parent / "scripts" / "benchmark.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
benchmark_main = _module.main
