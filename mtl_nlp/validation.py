"""Checking a run completely before any model loads: structure (config.py), registries, and that data files exist."""

from __future__ import annotations

import difflib
from pathlib import Path

from mtl_nlp.config import Problem, RunConfig, TaskConfig, load_run, raise_problems
from mtl_nlp.metrics import METRICS, unknown_metric_message
from mtl_nlp.readers import READERS
from mtl_nlp.tasks import TASK_TYPES, unknown_type_message


def task_problems(task: TaskConfig, data_dir: str | None) -> list[Problem]:
    """Names that must exist in a registry, columns that must match the task type, files that must be on disk."""
    out: list[Problem] = []

    def bad(key: str, message: str) -> None:
        out.append(Problem(*task.where(key), key, message))

    _format_problems(task, bad)
    if task.metric not in METRICS:
        bad("metric", unknown_metric_message(task.metric))
    if task.type not in TASK_TYPES:
        bad("type", unknown_type_message(task.type))
    else:
        _column_problems(task, bad)
    if data_dir is not None:
        for split, name in task.files.items():
            # Test files are held out of most data folders; they are checked when a test split is evaluated.
            if split != "test" and not (Path(data_dir) / name).is_file():
                bad(f"files.{split}", f"file {Path(data_dir) / name} does not exist (data_dir is {data_dir!r}); "
                    "fix the path or pass --data-dir")
    return out


def _format_problems(task: TaskConfig, bad) -> None:
    """``format`` names a reader, or maps each split with a file to one (problems go to ``bad``)."""
    if isinstance(task.format, str):
        named = {"format": task.format}
    elif isinstance(task.format, dict):
        named = {f"format.{split}": task.format.get(split) for split in {*task.files, *task.format}}
    else:
        bad("format", f"must be a reader name or {{split: reader name}}, got {task.format!r}")
        return
    for key, name in sorted(named.items()):
        if name is None:
            bad(key, f"split {key.split('.')[1]!r} has a file but no format; add it to 'format'")
        elif name not in READERS:
            hint = difflib.get_close_matches(str(name), READERS, n=1)
            bad(key, f"unknown format {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "") + f" Known: {', '.join(READERS)}.")


def _column_problems(task: TaskConfig, bad) -> None:
    kind = TASK_TYPES[task.type]
    roles = (*kind.required_roles, *kind.optional_roles)
    for role in task.columns:
        if role not in roles:
            hint = difflib.get_close_matches(role, roles, n=1)
            bad(f"columns.{role}", f"{task.type} has no column role {role!r}" + (f"; did you mean {hint[0]!r}?" if hint else "") + f" Roles: {', '.join(roles)}.")
    formats = set(task.format.values()) if isinstance(task.format, dict) else {task.format}
    if "conll" in formats:
        for role in kind.required_roles:
            if not isinstance(task.columns.get(role), int):
                bad("columns", f"conll files need a column number for {role!r}, e.g. columns: {{tokens: 0, tags: 3}}")
    for key, message in kind.config_problems(task):
        bad(key, message)


def validate_run(path: str | Path, overrides: list[str] = (), *, check_files: bool = True) -> RunConfig:
    """Load a run and raise one ConfigError listing every problem in it and its task files."""
    run, problems = load_run(path, overrides)
    missing_dirs = {run.data_dir_for(t.name) for t in run.tasks if t.files and not Path(run.data_dir_for(t.name)).is_dir()}
    for folder in sorted(missing_dirs) if check_files else []:
        problems.append(Problem(run.path, None, "data_dir", f"folder {folder!r} does not exist; pass --data-dir DIR "
                                "(for the demo, write the data first: mtl-nlp demo-data demo_data)"))
    for task in run.tasks:
        folder = run.data_dir_for(task.name)
        problems += task_problems(task, folder if check_files and folder not in missing_dirs else None)
    raise_problems(problems, f"run {path}")
    return run


def validate_task(path: str | Path, data_dir: str) -> TaskConfig:
    """Load one task YAML on its own (``mtl-nlp adapt``) and raise one ConfigError listing every problem."""
    from mtl_nlp.config import load_task

    problems: list[Problem] = []
    task = load_task(Path(path), problems)
    problems += task_problems(task, data_dir if Path(data_dir).is_dir() else None)
    if not Path(data_dir).is_dir():
        problems.append(Problem("command line", None, "--data-dir", f"folder {data_dir!r} does not exist"))
    raise_problems(problems, f"task {path}")
    return task
