"""Weight averaging (``train.ema_decay``): dev scores and the kept model come from an exponential moving average of
the trained weights, meant to smooth the step-to-step swings of a small task's dev score (SST-2 moves by more than a
point between evaluations of one run). The average starts after warm-up, so it never holds the untrained heads."""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def moving_average(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """A copy of ``model`` (unwrapped) whose weights ``update`` moves ``1 - decay`` of the way to the model's each
    step; None without a decay."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def update(average: AveragedModel | None, model: nn.Module, step: int, start: int) -> None:
    """Fold in ``model``'s weights after optimiser step ``step``; the first step after ``start`` copies them."""
    if average is not None and step > start:
        average.update_parameters(model)


def scored(model: nn.Module, average: AveragedModel | None) -> nn.Module:
    """The weights to evaluate and keep: the average once it holds any, else the model as trained."""
    return average.module if average is not None and average.n_averaged > 0 else model
