import pytest

from mtl_nlp.metrics import compute


def test_seqeval_strict_counts_whole_entities():
    refs = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    preds = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"]]  # strict IOB2: an entity opened by I- is not an entity
    scores = compute("seqeval", preds, refs, labels=[], negative_label=None)
    assert scores["precision"] == pytest.approx(1 / 2) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.4) and scores["primary"] == scores["f1"]
    assert scores["per_type"]["PER"]["f1"] == 1.0 and scores["per_type"]["LOC"]["support"] == 1


def test_accuracy_and_macro_f1():
    scores = compute("accuracy", ["a", "b", "a", "a"], ["a", "b", "b", "a"], labels=["a", "b"], negative_label=None)
    assert scores["accuracy"] == 0.75 and scores["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_relation_f1_excludes_the_negative_class():
    refs = ["r1", "r1", "none", "r2", "none"]
    preds = ["r1", "none", "r1", "r2", "none"]
    scores = compute("relation_f1", preds, refs, labels=["none", "r1", "r2"], negative_label="none")
    # r1: tp 1, fp 1, fn 1; r2: tp 1. Micro P = 2/3, R = 2/3.
    assert scores["micro_precision"] == pytest.approx(2 / 3) and scores["micro_recall"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((0.5 + 1.0) / 2) and scores["primary"] == scores["micro_f1"]


def test_one_label_tasks_get_a_confusion_matrix_and_taggers_do_not():
    scores = compute("accuracy", ["a", "b", "a", "a"], ["a", "b", "b", "a"], labels=["a", "b"], negative_label=None)
    assert scores["confusion"] == {"labels": ["a", "b"], "counts": [[2, 0], [1, 1]]}  # rows gold, columns predicted
    assert "confusion" not in compute("seqeval", [["B-PER"]], [["B-PER"]], labels=["O", "B-PER"], negative_label=None)
