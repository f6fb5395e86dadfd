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


def layer_scale(name: str, num_layers: int, decay: float | None) -> float:
    """The factor on the encoder's learning rate for encoder parameter ``name``: ``decay ** (num_layers - 1 - i)``
    in layer ``i``, ``decay ** num_layers`` in the embeddings, 1 elsewhere (pooler, final norm) and without a decay."""
    if decay is None:
        return 1.0
    index = layer_index(name)
    if index >= 0:
        return decay ** max(num_layers - 1 - index, 0)
    return decay ** num_layers if ".embeddings." in name else 1.0
