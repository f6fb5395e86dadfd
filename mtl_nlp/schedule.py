"""The learning-rate schedule: linear warm-up, then linear decay to zero, as transformers' linear schedule. The shared
encoder's may end before the task parts' (``train.encoder_until``): the steps after it fit each task's own head and
adapter to an encoder that the other tasks no longer move, the interference a shared encoder carries to its end."""

from __future__ import annotations

from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR


def linear_warmup_decay(step: int, *, warmup: int, total: int) -> float:
    """The factor on a group's learning rate after ``step`` scheduler steps (transformers' formula, to the bit)."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def make_scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int, encoder_total: int) -> LambdaLR:
    """One schedule per parameter group: groups marked ``shared`` (the encoder's own weights) reach zero at
    ``encoder_total``, every other group at ``total``."""
    return LambdaLR(optimizer, [partial(linear_warmup_decay, warmup=warmup, total=encoder_total if group.get("shared") else total)
                                for group in optimizer.param_groups])


def drop_encoder_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Once the encoder's rate is zero its gradients only dilute clipping: drop them, so the norm is the task parts'
    and AdamW skips the encoder (its weights and moments stay as they were)."""
    for group in optimizer.param_groups:
        if group.get("shared"):
            for param in group["params"]:
                param.grad = None
