"""Tag decoding that never emits an invalid IOB2 sequence: Viterbi over the allowed tag transitions.

A per-word argmax can put ``I-X`` after ``O`` or after another type; strict scoring then drops that entity. Viterbi
finds the most probable sequence (sum of the words' log-probabilities) in which every ``I-X`` continues an ``X``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch


def iob2_transitions(tags: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(tags a sentence may start with [T], allowed[previous, next] [T, T]) for IOB2 tags."""
    kinds = [tag.partition("-") for tag in tags]
    start = torch.tensor([prefix != "I" for prefix, _, _ in kinds])
    allowed = torch.tensor([
        [prefix != "I" or (before_prefix in ("B", "I") and before_kind == kind) for prefix, _, kind in kinds]
        for before_prefix, _, before_kind in kinds
    ])
    return start, allowed


def viterbi(log_probs: torch.Tensor, start: torch.Tensor, allowed: torch.Tensor) -> list[int]:
    """The best allowed tag sequence for ``log_probs`` [words, tags]. The loop runs in NumPy: a sentence's steps are
    tiny, and torch's per-operation overhead would cost more than the arithmetic (this runs per served sentence)."""
    if log_probs.shape[0] == 0:
        return []
    scores = log_probs.detach().cpu().double().numpy()
    transition = np.where(allowed.numpy(), 0.0, -np.inf)
    best = np.where(start.numpy(), scores[0], -np.inf)
    pointers = []
    for row in scores[1:]:
        candidates = best[:, None] + transition
        pointer = candidates.argmax(0)
        best = candidates[pointer, np.arange(len(pointer))] + row
        pointers.append(pointer)
    path = [int(best.argmax())]
    for pointer in reversed(pointers):
        path.append(int(pointer[path[-1]]))
    return path[::-1]


@lru_cache(maxsize=32)
def _transitions(tags: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    return iob2_transitions(list(tags))


def best_tags(log_probs: torch.Tensor, tags: list[str], decoding: str) -> list[int]:
    """Tag ids for ``log_probs`` [words, tags]: per-word argmax, or with ``viterbi`` the best valid IOB2 sequence."""
    if decoding == "viterbi":
        return viterbi(log_probs, *_transitions(tuple(tags)))
    return log_probs.argmax(-1).tolist()


def span_tags(outside: list[float], found: list[tuple[float, int, int, str]]) -> list[tuple[str, float]]:
    """(IOB2 tag, probability) per word from classified spans: ``found`` holds (probability, start, end, type) of each
    span whose best label is an entity type; the most probable spans are kept first and a span that overlaps a kept
    one is dropped, so the entities are flat, as the benchmarks' are. A word in no kept span is ``O`` with its
    ``outside`` probability; a kept span's words carry the span's probability."""
    read = [("O", p) for p in outside]
    taken = [False] * len(outside)
    for probability, start, end, kind in sorted(found, key=lambda span: -span[0]):
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            read[start:end] = [(f"B-{kind}", probability)] + [(f"I-{kind}", probability)] * (end - start - 1)
    return read
