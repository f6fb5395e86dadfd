from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.scheme import IOB2, Entities

from mtl_nlp.spans import entity_spans, subword_span

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-Kill-Of", "I-Kill-Of"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=12))
def test_entity_spans_equal_strict_seqeval_on_any_sequence(tags):
    assert entity_spans(tags) == [(e.tag, e.start, e.end) for e in Entities([tags], IOB2).entities[0]]


def test_an_i_tag_that_continues_nothing_starts_nothing():
    assert entity_spans(["I-PER", "B-PER", "I-LOC", "I-LOC", "B-LOC", "I-LOC"]) == [("PER", 1, 2), ("LOC", 4, 6)]


def test_subword_span_ends_where_the_next_word_starts_or_before_sep():
    starts = [1, 2, 4, -1]
    assert subword_span(starts, 0, 2, 7) == (1, 4)
    assert subword_span(starts, 2, 3, 7) == (4, 6)
    assert subword_span(starts, 2, 4, 7) is None  # the last word was cut by max_length
