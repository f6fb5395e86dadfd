import copy

import torch

from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import SpanPairHead
from mtl_nlp.tasks.relation_classification import RelationClassification, insert_markers


def _task(types=("PER", "ORG")) -> RelationClassification:
    config = TaskConfig(name="rel", type="relation_classification", labels=["none", "works_for"], metric="relation_f1",
                        negative_label="none", files={"train": "x"}, entity_types=list(types))
    return RelationClassification(config)


def test_markers_wrap_both_spans_in_either_order():
    tokens = ["acme", "hired", "john", "smith"]
    head, tail = {"start": 2, "end": 4, "type": "PER"}, {"start": 0, "end": 1, "type": "ORG"}
    assert insert_markers(tokens, head, tail, typed=True) == [
        "[E2:ORG]", "acme", "[/E2:ORG]", "hired", "[E1:PER]", "john", "smith", "[/E1:PER]"
    ]
    assert insert_markers(tokens, head, tail, typed=False)[0] == "[E2]"


def test_head_and_tail_indices_point_at_the_opening_markers(tiny_tokenizer):
    task = _task()
    tokenizer = copy.deepcopy(tiny_tokenizer)  # the fixture is shared by the session: add markers to a copy
    tokenizer.add_special_tokens({"additional_special_tokens": task.special_tokens()})
    batch = {"tokens": [["acme", "hired", "john"]], "head": [{"start": 2, "end": 3, "type": "PER"}],
             "tail": [{"start": 0, "end": 1, "type": "ORG"}], "label": ["works_for"]}
    out = task.preprocess(batch, tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert pieces[out["head_index"][0]] == "[E1:PER]" and pieces[out["tail_index"][0]] == "[E2:ORG]"
    assert out["labels"] == [1] and out["lost"] == [0]


def test_direction_changes_the_pair_representation():
    head = SpanPairHead(hidden_size=4, num_labels=2).eval()
    hidden = torch.randn(1, 5, 4)
    forward = head(hidden, {"head_index": torch.tensor([1]), "tail_index": torch.tensor([3])})
    backward = head(hidden, {"head_index": torch.tensor([3]), "tail_index": torch.tensor([1])})
    assert not torch.allclose(forward, backward)


def test_check_rejects_bad_spans_and_unknown_types():
    task = _task()
    row = {"tokens": ["a", "b", "c"], "head": {"start": 0, "end": 1, "type": "PER"}, "tail": {"start": 1, "end": 4, "type": "ORG"}}
    assert "outside the 3 tokens" in task.check(row)
    row["tail"] = {"start": 0, "end": 2, "type": "ORG"}
    assert "overlap" in task.check(row)
    row["tail"] = {"start": 2, "end": 3, "type": "LOC"}
    assert "entity_types" in task.check(row)
