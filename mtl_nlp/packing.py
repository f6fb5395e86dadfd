"""Padding-free encoder passes: a batch's examples laid end to end in as few rows as its longest example allows.

Each example attends only to itself (a block-diagonal mask) and keeps the positions it has in the padded batch (from
0 under right padding), so the encoder computes the same states as for the padded batch, without the padding. The
heads still read the padded layout: the states are put back in place after the pass, so packing changes what is
computed, never which examples share a batch or what a head or loss sees (unlike grouping by length, which changes
the batches).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mtl_nlp.errors import ConfigError

PACKED = "packed_input_ids"
PACKED_KEYS = (PACKED, "packed_token_type_ids", "packed_position_ids", "packed_segments", "packed_index")
# Attention kernels that take a dense 4D mask (flash kernels read per-row lengths instead and are not wired here).
KERNELS = ("sdpa", "eager")


def pack_rows(lengths: list[int], width: int) -> list[list[int]]:
    """Example indices per row, first fit in decreasing length: each row's lengths sum to at most ``width``."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        slot = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if slot is None:
            rows.append([])
            room.append(width)
            slot = len(rows) - 1
        rows[slot].append(i)
        room[slot] -= lengths[i]
    return rows


def pack_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packed encoder inputs of a padded batch, and ``packed_index``: for every padded position, its place in
    the packed rows (flattened), or one past the end for padding."""
    mask = batch["attention_mask"].bool()
    size, width = mask.shape
    lengths = mask.sum(-1).tolist()
    rows = pack_rows(lengths, width)
    shape = (len(rows), width)
    ids, positions, segments = (torch.zeros(shape, dtype=torch.long) for _ in range(3))
    types = torch.zeros(shape, dtype=torch.long) if "token_type_ids" in batch else None
    index = torch.full((size * width,), len(rows) * width, dtype=torch.long)
    for r, members in enumerate(rows):
        start = 0
        for segment, b in enumerate(members, 1):
            end, columns = start + lengths[b], mask[b].nonzero().squeeze(-1)
            ids[r, start:end] = batch["input_ids"][b][columns]
            if types is not None:
                types[r, start:end] = batch["token_type_ids"][b][columns]
            positions[r, start:end] = columns  # the positions the padded pass gives (0, 1, ... under right padding)
            segments[r, start:end] = segment
            index[b * width + columns] = torch.arange(r * width + start, r * width + end)
            start = end
    out = {PACKED: ids, "packed_position_ids": positions, "packed_segments": segments, "packed_index": index}
    if types is not None:
        out["packed_token_type_ids"] = types
    return out


def packing_collator(collate: Callable[[list[dict]], dict]) -> Callable[[list[dict]], dict]:
    """``collate`` with the packed encoder inputs added to every batch (built in the loader, off the step)."""

    def collate_packed(rows: list[dict]) -> dict:
        batch = collate(rows)
        batch.update(pack_batch(batch))
        return batch

    return collate_packed


def encoder_inputs(inputs: dict[str, torch.Tensor], kernel: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The packed batch as encoder keyword arguments: a 4D mask in the form ``kernel`` reads (boolean for SDPA, an
    additive float mask for eager). Padding (segment 0) attends only to padding, so no query row is fully masked."""
    if kernel not in KERNELS:
        raise ConfigError(f"train.pack_sequences: the encoder's attention kernel {kernel!r} does not read a 4D mask; "
                          f"use attention: sdpa or eager, or set train.pack_sequences: false")
    segments = inputs["packed_segments"]
    mask = (segments[:, :, None] == segments[:, None, :])[:, None]
    if kernel == "eager":
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    out = {"input_ids": inputs[PACKED], "attention_mask": mask, "position_ids": inputs["packed_position_ids"]}
    if "packed_token_type_ids" in inputs:
        out["token_type_ids"] = inputs["packed_token_type_ids"]
    return out


def unpack(hidden: torch.Tensor, index: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Packed states ``[rows, width, hidden]`` back in the padded layout ``shape`` (zeros at padding)."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    table = torch.cat([flat, flat.new_zeros(1, flat.shape[-1])])
    return table[index].view(*shape, hidden.shape[-1])


def computed_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Positions the encoder computes for this batch, padding included."""
    return batch[PACKED].numel() if PACKED in batch else batch["attention_mask"].numel()


@torch.no_grad()
def check_packing(model: torch.nn.Module, task: str, batch: dict[str, torch.Tensor]) -> None:
    """Raise a ConfigError when ``model`` encodes a packed batch differently from the padded one, as an encoder that
    numbers positions its own way would (RoBERTa's start after the padding id): packing must never change a result."""
    was_training, trainable = model.training, [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    padded = model.encode(task, **{k: v for k, v in batch.items() if k not in PACKED_KEYS})
    packed = model.encode(task, **batch)
    model.train(was_training)
    for param, flag in trainable:  # choosing a task's adapters (PEFT) freezes the others: the optimizer needs them all
        param.requires_grad_(flag)
    mask = batch["attention_mask"].bool()
    gap = (padded - packed)[mask].abs().max().item()
    if gap > 1e-3 * max(1.0, padded[mask].abs().max().item()):
        raise ConfigError(f"train.pack_sequences: the {type(model.encoder).__name__} encoder's states differ by up to "
                          f"{gap:.3g} when its batch is packed (it does not read position_ids and a 4D attention mask "
                          "as BERT does); set train.pack_sequences: false for this encoder")
