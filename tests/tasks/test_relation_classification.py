import copy
import dataclasses

import torch

from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import SpanPairHead
from mtl_nlp.tasks.relation_classification import RelationClassification, insert_markers


def _task(types=("PER", "ORG"), **extra) -> RelationClassification:
    config = TaskConfig(name="rel", type="relation_classification", labels=["none", "works_for"], metric="relation_f1",
                        negative_label="none", files={"train": "x"}, entity_types=list(types), **extra)
    return RelationClassification(config)


def test_markers_wrap_both_spans_in_either_order():
    tokens = ["acme", "hired", "john", "smith"]
    head, tail = {"start": 2, "end": 4, "type": "PER"}, {"start": 0, "end": 1, "type": "ORG"}
    words, spots = insert_markers(tokens, head, tail, typed=True)
    assert words == ["[E2:ORG]", "acme", "[/E2:ORG]", "hired", "[E1:PER]", "john", "smith", "[/E1:PER]"]
    assert spots == {"head_index": 4, "head_end": 7, "tail_index": 0, "tail_end": 2}
    assert insert_markers(tokens, head, tail, typed=False)[0][0] == "[E2]"


def test_punctuation_markers_are_words_the_encoder_knows():
    tokens = ["acme", "hired", "john"]
    head, tail = {"start": 2, "end": 3, "type": "PER"}, {"start": 0, "end": 1, "type": "ORG"}
    words, spots = insert_markers(tokens, head, tail, typed=True, style="punct")
    assert words == ["#", "^", "org", "^", "acme", "#", "hired", "@", "*", "per", "*", "john", "@"]
    assert spots == {"head_index": 7, "head_end": 12, "tail_index": 0, "tail_end": 5}
    assert insert_markers(tokens, head, tail, typed=False, style="punct")[0] == ["#", "acme", "#", "hired", "@", "john", "@"]
    assert _task(entity_markers="punct").special_tokens() == []


def test_punctuation_in_the_text_is_not_taken_for_a_marker(tiny_tokenizer):
    """The head reads the marker it inserted, not an earlier '@' or '#' of the sentence, also in a window."""
    task = _task(types=(), entity_markers="punct", max_length=12)
    tokens = ["@", "#"] + ["the"] * 20 + ["acme", "hired", "john", "#", "@"] + ["the"] * 20
    batch = {"tokens": [tokens[:7], tokens], "head": [{"start": 4, "end": 5}, {"start": 24, "end": 25}],
             "tail": [{"start": 2, "end": 3}, {"start": 22, "end": 23}], "label": ["works_for"] * 2}
    out = task.preprocess(batch, tiny_tokenizer)
    short = tiny_tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert short == ["[CLS]", "@", "#", "#", "the", "#", "the", "@", "the", "@", "the", "[SEP]"]
    assert (out["tail_index"][0], out["tail_end"][0], out["head_index"][0], out["head_end"][0]) == (3, 5, 7, 9)
    long = tiny_tokenizer.convert_ids_to_tokens(out["input_ids"][1])
    assert long[out["tail_index"][1]:out["head_end"][1] + 1] == ["#", "acme", "#", "hired", "@", "john", "@"]
    assert out["lost"] == [0, 0]


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


def test_a_pair_past_max_length_is_read_in_a_window_around_it(tiny_tokenizer):
    """Both markers of a pair near the end of a long sentence survive, with context on both sides; a pair wider than
    max_length cannot, and is counted."""
    task = _task(max_length=12)
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": task.special_tokens()})
    tokens = ["the"] * 30 + ["acme", "hired", "john", "in", "paris"] + ["the"] * 30
    batch = {"tokens": [tokens, tokens], "head": [{"start": 32, "end": 33, "type": "PER"}, {"start": 32, "end": 33, "type": "PER"}],
             "tail": [{"start": 30, "end": 31, "type": "ORG"}, {"start": 2, "end": 3, "type": "ORG"}], "label": ["works_for"] * 2}
    out = task.preprocess(batch, tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert len(pieces) == 12 and pieces[out["head_index"][0]] == "[E1:PER]" and pieces[out["tail_index"][0]] == "[E2:ORG]"
    assert pieces[1:3] == ["the", "the"] and pieces[-2] == "in"  # context kept on both sides of the pair
    assert out["lost"] == [0, 1]


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


def test_closing_markers_bound_each_entity(tiny_tokenizer):
    task = _task()
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": task.special_tokens()})
    batch = {"tokens": [["acme", "hired", "john", "smith"]], "head": [{"start": 2, "end": 4, "type": "PER"}],
             "tail": [{"start": 0, "end": 1, "type": "ORG"}], "label": ["works_for"]}
    out = task.preprocess(batch, tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert pieces[out["head_end"][0]] == "[/E1:PER]" and pieces[out["tail_end"][0]] == "[/E2:ORG]"


def test_rbert_features_are_marker_states_pooled_text_and_entity_means():
    head = SpanPairHead(hidden_size=2, num_labels=3, features=("markers", "sentence", "spans")).eval()
    hidden = torch.arange(14, dtype=torch.float).view(1, 7, 2)
    inputs = {"head_index": torch.tensor([1]), "head_end": torch.tensor([4]), "tail_index": torch.tensor([5]),
              "tail_end": torch.tensor([7]), "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 0]])}
    assert head._feature("markers", hidden, inputs).tolist() == [[2.0, 3.0, 10.0, 11.0]]
    assert head._feature("sentence", hidden, inputs).tolist() == [[5.0, 6.0]]  # mean of the 6 unpadded states
    assert head._feature("spans", hidden, inputs).tolist() == [[5.0, 6.0, 12.0, 13.0]]  # states 2-3, then state 6
    assert head(hidden, inputs).shape == (1, 3)


def test_default_head_keeps_the_saved_weight_names():
    assert {n for n, _ in SpanPairHead(4, 2).named_parameters()} == {"dense.weight", "dense.bias", "classifier.weight", "classifier.bias"}


def test_unknown_relation_features_are_a_config_problem():
    config = _task().config
    config.relation_features = ["markers", "cls"]
    assert [key for key, _ in RelationClassification.config_problems(config)] == ["relation_features"]


def test_a_relation_threshold_on_a_type_that_never_reads_it_is_a_config_problem():
    from mtl_nlp.tasks.sequence_classification import SequenceClassification
    from mtl_nlp.tasks.token_classification import TokenClassification

    config = dataclasses.replace(_task().config, relation_threshold=0.5)
    for kind in (RelationClassification, TokenClassification, SequenceClassification):
        assert ("relation_threshold", "task type 'relation_classification' does not read relation_threshold; remove it") \
            in kind.config_problems(config)


def test_entity_markers_are_checked_and_read_only_by_relation_classification():
    from mtl_nlp.tasks.token_classification import TokenClassification

    config = dataclasses.replace(_task().config, entity_markers="brackets")
    assert [p.key for p in config.problems()] == ["entity_markers"]
    config = dataclasses.replace(config, entity_markers="punct")
    assert config.problems() == [] and RelationClassification.config_problems(config) == []
    assert ("entity_markers", "task type 'relation_classification' does not read entity_markers; remove it") \
        in TokenClassification.config_problems(config)


def _semeval_like(**extra) -> RelationClassification:
    config = TaskConfig(name="sem", type="relation_classification", labels=["Other", "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"],
                        metric="semeval2010_task8", negative_label="Other", files={"train": "x"}, **extra)
    return RelationClassification(config)


def test_swapped_pairs_train_on_every_pair_both_ways_with_the_direction_reversed():
    import datasets

    rows = {"tokens": [["smoke", "from", "fire"], ["a", "b", "c"]], "head": [{"start": 0, "end": 1}, {"start": 0, "end": 1}],
            "tail": [{"start": 2, "end": 3}, {"start": 2, "end": 3}], "label": ["Cause-Effect(e2,e1)", "Other"]}
    ds = datasets.Dataset.from_dict(rows)
    assert _semeval_like().for_training(ds) is ds  # off by default
    out = _semeval_like(swapped_pairs=True).for_training(ds)
    assert out["label"] == ["Cause-Effect(e2,e1)", "Other", "Cause-Effect(e1,e2)", "Other"]
    assert out["head"][2] == {"start": 2, "end": 3} and out["tail"][2] == {"start": 0, "end": 1}
    assert out["tokens"] == rows["tokens"] * 2


def test_swapped_pairs_need_each_directed_labels_reverse_and_a_relation_task():
    from mtl_nlp.tasks.sequence_classification import SequenceClassification

    config = dataclasses.replace(_semeval_like().config, swapped_pairs=True, labels=["Other", "Cause-Effect(e1,e2)"])
    problems = RelationClassification.config_problems(config)
    assert [key for key, _ in problems] == ["swapped_pairs"] and "Cause-Effect(e2,e1)" in problems[0][1]
    assert RelationClassification.config_problems(_semeval_like(swapped_pairs=True).config) == []
    undirected = RelationClassification.config_problems(dataclasses.replace(_task().config, swapped_pairs=True))
    assert [key for key, _ in undirected] == ["swapped_pairs"] and "name their direction" in undirected[0][1]
    assert [p.key for p in dataclasses.replace(config, swapped_pairs="yes").problems()] == ["swapped_pairs"]
    assert ("swapped_pairs", "task type 'relation_classification' does not read swapped_pairs; remove it") \
        in SequenceClassification.config_problems(config)
