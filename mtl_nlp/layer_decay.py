"""Layer-wise learning-rate decay (``train.layer_lr_decay``): the encoder's top layer trains at the encoder's
learning rate and each layer below at ``decay`` times the one above, the embeddings lowest. Lower layers hold the
general features every task shares, so moving them less is a common fine-tuning recipe (ELECTRA, Clark et al. 2020;
Sun et al. 2019); in a multi-task model it also limits how far one task can pull what all of them read."""

from __future__ import annotations

import re

_LAYER = re.compile(r"\.layers?\.(\d+)\.")


def layer_index(name: str) -> int:
    """The index of the transformer layer that holds parameter ``name``; -1 outside the layers."""
    match = _LAYER.search(name)
    return int(match.group(1)) if match else -1


def layer_depth(name: str, num_layers: int) -> int:
    """How many layers encoder parameter ``name`` sits below the top one: ``num_layers - 1 - i`` in layer ``i``,
    ``num_layers`` in the embeddings, 0 elsewhere (pooler, final norm)."""
    index = layer_index(name)
    if index >= 0:
        return max(num_layers - 1 - index, 0)
    return num_layers if ".embeddings." in name else 0


def layer_scale(name: str, num_layers: int, decay: float | None) -> float:
    """The factor on the encoder's learning rate for encoder parameter ``name``: ``decay ** depth``; 1 without a decay."""
    return 1.0 if decay is None else decay ** layer_depth(name, num_layers)


def set_task_rates(param_groups: list[dict], base: float | None, task: float | None) -> None:
    """Rescale, for one optimiser step, every group that records its ``layer_depth`` from the run's decay ``base`` to
    the stepping task's own ``task`` (``train.task_layer_lr_decay``). The schedule sets every rate afresh at its next
    step, so nothing carries over to the next task's step."""
    if task == base:
        return
    for group in param_groups:
        depth = group.get("layer_depth", 0)
        if depth:
            group["lr"] *= ((task or 1.0) / (base or 1.0)) ** depth
