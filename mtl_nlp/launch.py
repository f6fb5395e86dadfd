"""How this process was launched, for the Accelerator: several CPU processes need ``cpu=True`` to join one gloo group."""

from __future__ import annotations

import os

import torch


def cpu_processes() -> bool:
    """True under ``torchrun`` or ``accelerate launch`` with several processes and no GPU: without ``cpu=True``,
    Accelerate would leave every process training alone instead of forming one gloo process group."""
    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
