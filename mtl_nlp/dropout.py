"""Cheaper dropout masks for CPU training (``train.dropout_masks: fast``).

PyTorch's CPU dropout draws one random number per element (``bernoulli_``): a tenth of the default encoder's training
step on 2 cores (README, Speed). Here 64 random bits are drawn at a time from the same seeded generator and an
element is kept when 15 of them read at least ``p * 2**15``: the same Bernoulli masks, with ``p`` rounded to a
multiple of 1/32768, several times faster to draw. A torch function mode swaps this in for ``F.dropout`` (every
``nn.Dropout``) and for the attention dropout of ``F.scaled_dot_product_attention``, computed as the plain product that
SDPA itself runs on a CPU once dropout is on; so any encoder and head get it without their code being touched. The
masks differ from PyTorch's own, so a run is reproducible under one setting, not across the two.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

BITS = 15  # of each 16-bit draw, the sign bit left out: int64's random_() never sets its top bit


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str) -> torch.Tensor:
    """True where an element survives dropout at rate ``p`` (probability ``1 - round(p * 2**15) / 2**15``)."""
    count = math.prod(shape)
    bits = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_()
    draws = bits.view(torch.int16)[:count] & (2**BITS - 1)
    return (draws >= round(p * 2**BITS)).view(shape)


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """``F.dropout`` with ``keep_mask``'s masks: survivors scaled by ``1 / (1 - p)``."""
    if not training or p == 0:
        return x
    if p == 1:
        return x.mul_(0) if inplace else torch.zeros_like(x)
    scaled = keep_mask(x.shape, p, x.device).to(x.dtype) * (1 / (1 - p))
    return x.mul_(scaled) if inplace else x * scaled


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
              dropout_p: float = 0.0, scale: float | None = None) -> torch.Tensor:
    """SDPA's math path (softmax of the scaled product plus mask, dropout, times value) with ``dropout``'s masks; a
    boolean mask keeps where True, a float mask is added, as SDPA reads them."""
    scores = query @ key.transpose(-2, -1) * (query.shape[-1] ** -0.5 if scale is None else scale)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attn_mask
    return dropout(scores.softmax(-1), dropout_p) @ value


class FastMasks(TorchFunctionMode):
    """While active, dropout and SDPA's attention dropout draw ``keep_mask``'s masks; everything else runs as is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.dropout:
            return dropout(*args, **kwargs)
        if func is F.scaled_dot_product_attention:
            call = dict(zip(("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale"), args), **kwargs)
            if call.get("dropout_p", 0.0) > 0 and not call.get("is_causal") and not call.get("enable_gqa"):
                return attention(call["query"], call["key"], call["value"], call.get("attn_mask"),
                                 call["dropout_p"], call.get("scale"))
        return func(*args, **kwargs)


def dropout_masks(kind: str) -> AbstractContextManager:
    """The context a training forward pass runs in: ``FastMasks`` for ``fast``, nothing for PyTorch's own."""
    return FastMasks() if kind == "fast" else nullcontext()
