"""Span helpers shared by task types and heads (kept apart so heads never import task modules)."""

from __future__ import annotations


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end-exclusive) of each entity in an IOB2 sequence; a stray I- opens an entity, as in conlleval."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, this = tag.partition("-")
        if start is not None and not (prefix == "I" and this == kind):
            spans.append((kind, start, i))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, this
    return spans


def subword_span(word_starts: list[int], start: int, end: int, seq_len: int) -> tuple[int, int] | None:
    """Sub-word [start, end) covering words [start, end); None when max_length cut the span.

    ``word_starts[w]`` is the first sub-word of word ``w`` (-1 when truncated); a span ends where the next word
    starts, or before the final [SEP] when it reaches the last kept word.
    """
    if start >= len(word_starts) or word_starts[start] < 0 or word_starts[end - 1] < 0:
        return None
    stop = word_starts[end] if end < len(word_starts) and word_starts[end] >= 0 else seq_len - 1
    return word_starts[start], stop
