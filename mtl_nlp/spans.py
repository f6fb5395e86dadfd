"""Span helpers shared by task types and heads (kept apart so heads never import task modules)."""

from __future__ import annotations


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end-exclusive) of each entity in an IOB2 sequence, exactly as strict seqeval scoring counts them
    (``seqeval.scheme.Entities`` with IOB2; a test checks the two agree): an entity starts at ``B-X`` and runs over the
    ``I-X`` after it, and an ``I-X`` that does not continue an ``X`` entity starts nothing. Written out because this
    runs for every served sentence, where seqeval's token objects cost more than the encoder's share of the text."""
    spans, start, kind = [], None, None
    for i, tag in enumerate(tags):
        prefix, this = tag[:1], tag[1:].strip("-") or "_"
        if prefix == "I" and start is not None and this == kind:
            continue
        if start is not None:
            spans.append((kind, start, i))
            start = None
        if prefix == "B":
            start, kind = i, this
    if start is not None:
        spans.append((kind, start, len(tags)))
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
