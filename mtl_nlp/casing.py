"""Word casing as a feature for taggers on uncased encoders.

An uncased encoder (all-MiniLM-L6-v2, the default) reads "May", "may" and "MAY" as one token, yet capitals are
among the strongest cues for names. Taggers can read each word's casing class next to the encoder's state
(the casing embedding of Lample et al. 2016 and Chiu & Nichols 2016). A title-cased first word and the words of an
all-capitals headline say little about names, so those contexts get their own ids.
"""

from __future__ import annotations

CASES = ("none", "lower", "title", "upper", "mixed", "number", "alphanumeric", "other")
CONTEXTS = ("inside", "first word", "all-capitals sentence", "first word of an all-capitals sentence")
CASE_IDS = len(CASES) * len(CONTEXTS)  # id 0 ("none", inside) marks special tokens and padding


def word_case(word: str) -> int:
    """The index in CASES of one word's casing."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return CASES.index("number") if any(c.isdigit() for c in word) else CASES.index("other")
    if any(c.isdigit() for c in word):
        return CASES.index("alphanumeric")
    if all(c.islower() for c in letters):
        return CASES.index("lower")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return CASES.index("title")
    if all(c.isupper() for c in letters):
        return CASES.index("upper")
    return CASES.index("mixed")


def sentence_cases(words: list[str]) -> list[int]:
    """Each word's casing id in its sentence: its case, then whether it opens the sentence and whether the sentence
    has no lower-case letter at all (a headline in capitals)."""
    shouting = not any(c.islower() for w in words for c in w) and any(c.isalpha() for w in words for c in w)
    return [word_case(w) + len(CASES) * ((i == 0) + 2 * shouting) for i, w in enumerate(words)]


def subword_cases(word_ids: list[int | None], cases: list[int], first_word: int = 0) -> list[int]:
    """Per sub-word, the casing id of its word (``first_word`` is the window's first word in the sentence); 0 for
    special tokens."""
    return [0 if v is None else cases[first_word + v] for v in word_ids]
