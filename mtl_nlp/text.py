"""Turning raw text into the word lists our task types read."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
MARKUP = re.compile(r"<(/?)(e[12])(?::([\w-]+))?>")


def words(text: str) -> list[str]:
    """Split text into words and punctuation, the way CoNLL-style corpora are tokenised."""
    return WORD.findall(text)


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Each word of ``words(text)`` with its character offsets ``[start, end)`` in ``text``."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def strip_markup(text: str) -> tuple[str, dict[str, dict]]:
    """The text without ``<e1>``/``<e2>`` tags, and each completely marked span's character offsets in that text
    (``{"e1": {"start", "end", "type"?}, ...}``; empty unless both spans are marked)."""
    plain, opened, spans, position = [], {}, {}, 0
    length = 0
    for match in MARKUP.finditer(text):
        plain.append(text[position : match.start()])
        length += match.start() - position
        closing, role, kind = match.groups()
        if not closing:
            opened[role] = {"start": length, **({"type": kind} if kind else {})}
        elif role in opened:
            spans[role] = {**opened[role], "end": length}
        position = match.end()
    plain.append(text[position:])
    return "".join(plain), spans if set(spans) == {"e1", "e2"} else {}


def parse_marked(text: str) -> tuple[list[str], dict, dict] | None:
    """Words plus head and tail spans from SemEval-style markup ``<e1>…</e1> … <e2>…</e2>``; None without markup.

    An opening tag may name the entity type, ``<e1:PER>``, for relation tasks trained with typed markers.
    """
    tokens: list[str] = []
    starts: dict[str, dict] = {}
    spans: dict[str, dict] = {}
    position = 0
    for match in MARKUP.finditer(text):
        tokens += words(text[position : match.start()])
        closing, role, kind = match.groups()
        if not closing:
            starts[role] = {"start": len(tokens), **({"type": kind} if kind else {})}
        elif role in starts:
            spans[role] = {**starts[role], "end": len(tokens)}
        position = match.end()
    tokens += words(text[position:])
    if set(spans) != {"e1", "e2"}:
        return None
    return tokens, spans["e1"], spans["e2"]


def example_texts(rows, count: int = 2) -> list[str]:
    """The first ``count`` texts of a split (a ``datasets`` split or a list of rows): their ``text``, or their
    ``tokens`` joined with spaces. Demo apps preload them, so a model's own tasks suggest what to try."""
    out = []
    for row in rows:
        if len(out) == count:
            break
        text = row.get("text") or " ".join(row.get("tokens") or [])
        if text.strip():
            out.append(text)
    return out
