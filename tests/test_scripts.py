import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parent.parent / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_names_do_not_shadow_importable_modules(script):
    # `python scripts/x.py` puts scripts/ first on sys.path: a scripts/evaluate.py would hide the evaluate library.
    assert importlib.util.find_spec(script.stem) is None, f"scripts/{script.name} shadows the module {script.stem!r}"


def test_there_are_thin_scripts_for_each_command():
    assert {p.stem for p in SCRIPTS} >= {"train", "evaluate_model", "predict", "validate", "benchmark"}
    assert all(len(p.read_text().splitlines()) < 60 for p in SCRIPTS)
