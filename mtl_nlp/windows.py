"""Long inputs without silent loss: word windows that fit ``max_length``, and the pieces of one example put back together.

A sentence whose sub-words exceed the budget is split at word boundaries into windows that overlap by about
``stride`` sub-words. Every word is *owned* by exactly one window, the one in which it sits furthest from an edge
(overlaps are cut at their middle), so merging takes each word's prediction from its owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedTokenizerBase

if TYPE_CHECKING:  # serving imports this module and must not load datasets
    import datasets


@dataclass(frozen=True)
class Window:
    """Words ``[start, end)`` of a sentence are encoded together; the window's prediction counts for ``[own_start,
    own_end)``. All offsets are word indices of the whole sentence."""

    start: int
    end: int
    own_start: int
    own_end: int


def stride_of(stride: int | None, max_length: int) -> int:
    """The configured overlap, or a quarter of ``max_length`` when the task leaves it unset."""
    return max_length // 4 if stride is None else stride


def subword_counts(rows: list[list[str]], tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Sub-words per word of each row (0 for a word the tokenizer drops entirely)."""
    encoded = tokenizer(rows, is_split_into_words=True, add_special_tokens=False)
    out = []
    for row, words in enumerate(rows):
        counts = [0] * len(words)
        for word in encoded.word_ids(row):
            if word is not None:
                counts[word] += 1
        out.append(counts)
    return out


def budget_of(tokenizer: PreTrainedTokenizerBase, max_length: int) -> int:
    """Sub-words left for text once the tokenizer's special tokens ([CLS], [SEP]) are in."""
    return max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))


def word_windows(counts: list[int], budget: int, stride: int) -> list[Window]:
    """Windows covering every word; one window when the sentence fits. A single word longer than the budget gets a
    window of its own (the tokenizer then truncates it, and the task counts what was cut)."""
    n = len(counts)
    if sum(counts) <= budget:
        return [Window(0, n, 0, n)]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        end = max(end, start + 1)
        spans.append((start, end))
        if end >= n:
            break
        following, overlap = end, 0
        while following - 1 > start and overlap + counts[following - 1] <= stride:
            following -= 1
            overlap += counts[following]
        start = following
    cuts = [0] + [(next_start + end) // 2 for (_, end), (next_start, _) in zip(spans, spans[1:])] + [n]
    return [Window(s, e, max(cuts[i], s), min(cuts[i + 1], e)) for i, (s, e) in enumerate(spans)]


def plan(rows: list[list[str]], tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int | None,
         ) -> tuple[list[list[str]], list[list[Window]]]:
    """The rows with every word the tokenizer would drop (a control character, say) replaced by its unknown token,
    so each word keeps a sub-word to be read at, and the windows of every row."""
    budget, overlap = budget_of(tokenizer, max_length), stride_of(stride, max_length)
    counts = subword_counts(rows, tokenizer)
    readable = [[w if c else tokenizer.unk_token for w, c in zip(words, n)] for words, n in zip(rows, counts)]
    return readable, [word_windows([max(c, 1) for c in n], budget, overlap) for n in counts]


def around(counts: list[int], first: int, last: int, budget: int) -> tuple[int, int]:
    """Words ``[start, end)`` holding words ``first..last`` and as much context on both sides as ``budget`` allows
    (all of it when everything fits; just ``[first, last]`` when even that does not)."""
    start, end = first, last + 1
    used = sum(counts[start:end])
    grew = True
    while grew:
        grew = False
        if start > 0 and used + counts[start - 1] <= budget:
            start, used, grew = start - 1, used + counts[start - 1], True
        if end < len(counts) and used + counts[end] <= budget:
            used, end, grew = used + counts[end], end + 1, True
    return start, end


def windowed(dataset: datasets.Dataset) -> tuple[int, int]:
    """How many examples of a tokenized split were read in several windows, and in how many windows together."""
    if "window" not in dataset.column_names:
        return 0, 0
    window = dataset["window"]
    split = sum(w == 1 for w in window)
    return split, split + sum(w > 0 for w in window)


def numbers(batch: dict, rows: int) -> list[int]:
    """Each row's window number within its example (all 0 for a task that never windows its examples)."""
    return batch["window"].tolist() if "window" in batch else [0] * rows


def group(rows: list[tuple[int, Any]]) -> list[list[Any]]:
    """``(window number, piece)`` rows in order -> the pieces of each example, in order."""
    out: list[list[Any]] = []
    for window, piece in rows:
        if window == 0 or not out:
            out.append([])
        out[-1].append(piece)
    return out
