"""Imports the thin scripts in scripts/ (not a package) so tests can call their main()."""

import importlib.util
from pathlib import Path


def script_main(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_script", Path(__file__).parent.parent / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


benchmark_main = script_main("benchmark")
