import json

from mtl_nlp.app import FALLBACK_EXAMPLES, example_texts, views

ANSWER = {
    "text": "Anna Smith works for Acme Corp . Great !",
    "ner": {"entities": [{"text": "Acme Corp", "type": "ORG", "start": 21, "end": 30, "score": 0.9},
                         {"text": "Anna Smith", "type": "PER", "start": 0, "end": 10, "score": 0.8}]},
    "rel": {"relations": [{"type": "works_for", "score": 0.7, "head": {"text": "Anna Smith"}, "tail": {"text": "Acme Corp"}}],
            "encoder_passes": 2},
    "sentiment": {"label": "positive", "score": 0.95},
}


def test_views_follow_the_shape_of_each_answer():
    highlight, relations, labels = views(ANSWER, ["sentiment"])
    assert highlight == {"text": ANSWER["text"], "entities": [{"start": 0, "end": 10, "entity": "PER"}, {"start": 21, "end": 30, "entity": "ORG"}]}
    assert relations == [["rel", "Anna Smith", "works_for", "Acme Corp", 0.7]]
    assert labels == [{"positive": 0.95}]


def test_entity_types_name_their_task_when_two_tasks_tag():
    answer = {**ANSWER, "ner2": {"entities": [{"text": "Anna", "type": "X", "start": 0, "end": 4, "score": 1.0}]}}
    highlight, _, _ = views(answer, [])
    assert {e["entity"] for e in highlight["entities"]} == {"ner: PER", "ner: ORG", "ner2: X"}


def test_examples_come_from_the_model_folder_or_a_generic_pair(tmp_path):
    assert example_texts(str(tmp_path)) == FALLBACK_EXAMPLES
    (tmp_path / "examples.json").write_text(json.dumps(["one text", "another"]))
    assert example_texts(str(tmp_path)) == ["one text", "another"]
