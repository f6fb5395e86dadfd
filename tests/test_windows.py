import datasets
from hypothesis import given, settings
from hypothesis import strategies as st

from mtl_nlp.windows import Window, around, group, stride_of, windowed, word_windows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), max_size=60), st.integers(1, 20), st.integers(0, 10))
def test_windows_fit_cover_every_word_and_each_word_has_one_owner(counts, budget, stride):
    windows = word_windows(counts, budget, stride)
    for w in windows:
        assert w.start <= w.own_start <= w.own_end <= w.end
        assert sum(counts[w.start : w.end]) <= budget or w.end - w.start == 1  # only a lone over-long word overflows
    owned = [i for w in windows for i in range(w.own_start, w.own_end)]
    assert owned == list(range(len(counts)))
    assert [w.start for w in windows] == sorted({w.start for w in windows})  # every window moves forward


def test_one_window_when_the_sentence_fits_and_overlaps_are_cut_in_the_middle():
    assert word_windows([1, 1, 1], 3, 1) == [Window(0, 3, 0, 3)]
    windows = word_windows([1] * 10, 4, 2)
    assert windows[0] == Window(0, 4, 0, 3) and windows[1] == Window(2, 6, 3, 5)
    assert windows[-1].end == 10 and windows[-1].own_end == 10


def test_stride_defaults_to_a_quarter_of_max_length():
    assert stride_of(None, 128) == 32 and stride_of(0, 128) == 0


def test_around_keeps_the_pair_and_grows_context_on_both_sides():
    assert around([1] * 10, 4, 5, 4) == (3, 7)
    assert around([1] * 10, 0, 1, 4) == (0, 4)
    assert around([1] * 10, 2, 8, 4) == (2, 9)  # the pair itself does not fit: it is kept, nothing around it
    assert around([1] * 5, 1, 2, 100) == (0, 5)


def test_rows_are_grouped_into_their_examples():
    assert group([(0, "a"), (1, "b"), (0, "c"), (0, "d"), (1, "e")]) == [["a", "b"], ["c"], ["d", "e"]]


def test_windowed_counts_split_examples_and_their_windows():
    rows = datasets.Dataset.from_dict({"window": [0, 0, 1, 2, 0, 0, 1]})
    assert windowed(rows) == (2, 5)
    assert windowed(datasets.Dataset.from_dict({"label": [0, 1]})) == (0, 0)
