"""Max-pooling of many spans of one sequence without building a [batch, spans, length, hidden] mask.

A joint extraction batch asks for three spans per entity pair and a sentence with n entities has n(n-1) pairs, so
masking the whole sequence once per span grows as pairs x length x hidden. A sparse table (the max over every
window of 2^k positions, for each k) answers any span's max from two of its rows: memory and time grow as
length x log(length) x hidden, plus one gather per span. The values are exactly those of the masked max.
"""

from __future__ import annotations

import torch


def window_maxima(hidden: torch.Tensor) -> torch.Tensor:
    """[levels, batch, length, hidden]: level k at position i holds the max of positions i .. i+2^k-1.

    Windows that run past the end are cut at the end; span queries never read them.
    """
    levels = [hidden]
    width = 1
    while 2 * width <= hidden.shape[1]:
        previous = levels[-1]
        shifted = torch.cat([previous[:, width:], previous[:, -width:]], dim=1)  # past the end: repeat, never read
        levels.append(torch.maximum(previous, shifted))
        width *= 2
    return torch.stack(levels)


def span_max(hidden: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """[batch, spans, hidden]: the max over positions start .. end-1 of each span; zeros for empty spans.

    ``start`` and ``end`` are [batch, spans] positions with ``end`` exclusive.
    """
    table = window_maxima(hidden)
    size = (end - start).clamp(min=1)
    level = torch.zeros_like(size)
    for k in range(1, table.shape[0]):  # the largest k with 2^k <= size, in integers
        level += (size >= (1 << k)).long()
    rows = torch.arange(hidden.shape[0], device=hidden.device).unsqueeze(-1).expand_as(start)
    left = start.clamp(0, hidden.shape[1] - 1)
    right = (end - (1 << level)).clamp(0, hidden.shape[1] - 1)
    pooled = torch.maximum(table[level, rows, left], table[level, rows, right])
    return torch.where((end > start).unsqueeze(-1), pooled, torch.zeros_like(pooled))
