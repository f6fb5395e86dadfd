import torch

from mtl_nlp.config import TaskConfig
from mtl_nlp.tasks.sequence_classification import SequenceClassification


def _task(**extra) -> SequenceClassification:
    return SequenceClassification(TaskConfig(name="s", type="sequence_classification", labels=["0", "1"],
                                             metric="accuracy", files={"train": "x"}, **extra))


def test_pairs_and_integer_labels(tiny_tokenizer):
    out = _task().preprocess({"text": ["a good film"], "text_pair": ["a bad film"], "label": [1]}, tiny_tokenizer)
    pieces = tiny_tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert pieces.count("[SEP]") == 2 and out["labels"] == [1] and out["lost"] == [0]


def test_truncated_texts_are_counted(tiny_tokenizer):
    out = _task(max_length=8).preprocess({"text": ["the " * 20], "label": ["0"]}, tiny_tokenizer)
    assert len(out["input_ids"][0]) == 8 and out["lost"] == [1]


def test_decode_and_references():
    task = _task()
    assert task.decode(torch.tensor([[0.1, 0.9], [2.0, 0.0]]), {}) == ["1", "0"]
    assert task.references({"label": [1, 0]}) == ["1", "0"]
    assert "non-empty" in task.check({"text": "  "})


def test_label_smoothing_and_head_dropout_come_from_the_task_yaml():
    import dataclasses

    from mtl_nlp.tasks.base import IGNORE_INDEX

    task, smoothed = _task(), _task(label_smoothing=0.2, head_dropout=0.3)
    logits, labels = torch.randn(4, len(task.labels)), torch.tensor([0, 1, IGNORE_INDEX, 1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 1, 3]], labels[[0, 1, 3]], label_smoothing=0.2)
    assert torch.allclose(smoothed.loss(logits, labels), expected) and not torch.allclose(task.loss(logits, labels), expected)
    assert smoothed.head(8).dropout.p == 0.3 and task.head(8).dropout.p == 0.1
    assert dataclasses.replace(task.config, label_smoothing=1.0).problems()[0].key == "label_smoothing"
