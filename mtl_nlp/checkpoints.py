"""Training checkpoints: everything a run needs to continue exactly, written so that a kill never leaves a broken one.

A checkpoint is Accelerate's saved state (model as safetensors, optimiser, scheduler, every RNG) plus the objects
registered with ``accelerator.register_for_checkpointing`` (the task sampler, the batch interleaver, the loss
weighting, the gradient combiner, the loop's counters and records). It is written to ``.tmp-step-N`` and renamed to
``step-N`` only when complete (a rename within one folder is atomic), and only the newest ``keep`` are kept.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

from accelerate import Accelerator

from mtl_nlp.errors import ConfigError

STEP = re.compile(r"^step-(\d+)$")
FAULT = "MTL_NLP_FAULT"  # e.g. "save:6": kill this process there (the resume tests' fault injection)


def inject_fault(point: str, step: int) -> None:
    """SIGKILL this process when ``MTL_NLP_FAULT`` names this point and step: how the tests kill a run mid-save."""
    if os.environ.get(FAULT) == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    found = [(int(m.group(1)), p) for p in root.glob("step-*") if (m := STEP.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, keep: int) -> Path:
    """Write the state for ``step`` atomically and drop all but the newest ``keep`` checkpoints."""
    final, temporary = root / f"step-{step}", root / f".tmp-step-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    with disk_full_is_an_error(temporary, root):
        accelerator.save_state(str(temporary), safe_serialization=True)
    inject_fault("save", step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        temporary.rename(final)
        for old in checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in root.glob(".tmp-step-*"):  # left by a run killed while saving
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


@contextmanager
def disk_full_is_an_error(target: Path, root: Path):
    """A full disk while saving becomes one ConfigError saying what was kept; the partial files are removed."""
    try:
        yield
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        shutil.rmtree(target, ignore_errors=True)
        kept = checkpoints(root)
        raise ConfigError(f"no space left on the device while saving {target}; free some space or set output_dir on "
                          f"another disk. {'The last complete checkpoint is ' + str(kept[-1]) if kept else 'No checkpoint was completed'}"
                          "; earlier files were left as they were.", path=str(target)) from None


def resolve(resume_from: str, root: Path) -> Path | None:
    """The checkpoint ``resume_from`` names: ``latest`` (None when there is none yet) or a path."""
    if resume_from == "latest":
        found = checkpoints(root)
        return found[-1] if found else None
    path = Path(resume_from)
    if not (path / "model.safetensors").is_file() and not list(path.glob("model*.safetensors")):
        raise ConfigError(f"resume_from: {path} is not a checkpoint folder (no model.safetensors); give a "
                          f"{root}/step-N folder or 'latest'")
    return path


class TrainingStopped(Exception):
    """A run stopped on request after saving a checkpoint; the message says how to resume. Not a failure."""


class StopRequests:
    """While active, SIGTERM and SIGINT ask the loop to stop after the current step instead of killing it; a second
    signal of the same kind is not caught again, so it stops the process at once."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        self.requested = signal.Signals(signum).name
        signal.signal(signum, self._previous[signum])

    def __enter__(self) -> StopRequests:
        import threading

        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
