import itertools

import torch

from mtl_nlp.decoding import iob2_transitions, viterbi
from mtl_nlp.spans import entity_spans

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _valid(tags: list[str]) -> bool:
    return all(t[0] != "I" or (i > 0 and tags[i - 1][2:] == t[2:] and tags[i - 1][0] in "BI") for i, t in enumerate(tags))


def test_viterbi_repairs_what_argmax_breaks():
    # argmax: O I-PER I-PER B-LOC I-PER -> strict scoring keeps only LOC
    probs = torch.tensor([[0.9, 0.05, 0.01, 0.02, 0.02], [0.3, 0.2, 0.4, 0.05, 0.05], [0.1, 0.1, 0.7, 0.05, 0.05],
                          [0.1, 0.1, 0.1, 0.6, 0.1], [0.1, 0.1, 0.45, 0.05, 0.3]])
    path = [TAGS[i] for i in viterbi(probs.log(), *iob2_transitions(TAGS))]
    assert [TAGS[i] for i in probs.argmax(-1)] == ["O", "I-PER", "I-PER", "B-LOC", "I-PER"]
    assert path == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] and _valid(path)
    assert entity_spans(path) == [("PER", 1, 3), ("LOC", 3, 5)]


def test_viterbi_is_the_best_valid_sequence_by_brute_force():
    generator = torch.Generator().manual_seed(0)
    start, allowed = iob2_transitions(TAGS)
    for _ in range(20):
        log_probs = torch.randn(4, len(TAGS), generator=generator).log_softmax(-1)
        valid = [seq for seq in itertools.product(range(len(TAGS)), repeat=4) if _valid([TAGS[i] for i in seq])]
        best = max(valid, key=lambda seq: sum(log_probs[w, t] for w, t in enumerate(seq)))
        assert viterbi(log_probs, start, allowed) == list(best)
    assert viterbi(torch.zeros(0, len(TAGS)), start, allowed) == []


def test_span_tags_keep_the_most_probable_of_overlapping_spans():
    from mtl_nlp.decoding import span_tags

    found = [(0.6, 0, 2, "Peop"), (0.9, 1, 3, "Org"), (0.7, 3, 4, "Loc"), (0.5, 3, 5, "Loc")]
    read = span_tags([0.8, 0.7, 0.6, 0.9, 0.95], found)
    assert read == [("O", 0.8), ("B-Org", 0.9), ("I-Org", 0.9), ("B-Loc", 0.7), ("O", 0.95)]
    assert span_tags([0.5, 0.5], [(0.6, 0, 1, "Loc"), (0.6, 1, 2, "Loc")])[1] == ("B-Loc", 0.6)  # adjacent: two
