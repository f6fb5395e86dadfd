import json

import pytest
import torch

from mtl_nlp.config import SharingConfig, TaskConfig
from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.predict import pipeline
from mtl_nlp.tasks import build_task
from mtl_nlp.tasks.base import decoded

NER = TaskConfig(name="ner", type="token_classification", labels=["O", "B-PER", "I-PER"], metric="seqeval", files={"train": "x"})
SENT = TaskConfig(name="sent", type="sequence_classification", labels=["neg", "pos"], metric="accuracy", files={"train": "x"})
REL = TaskConfig(name="rel", type="relation_classification", labels=["none", "knows"], metric="relation_f1",
                 negative_label="none", entity_types=["PER"], files={"train": "x"})
TEXTS = ["John met Mary in Paris .", "a great film", "Mary , John and Ann ."]


def _save(folder, tiny_encoder_dir, tasks, **sharing):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    add_special_tokens(tokenizer, encoder, [t for c in tasks for t in build_task(c).special_tokens()])
    model = MultiTaskModel.from_encoder(encoder, tasks, SharingConfig(**sharing))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _count_encoder_calls(predictor) -> list:
    calls = []
    predictor.model.encoder.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_one_encoder_pass_serves_every_token_and_sequence_head(tiny_encoder_dir, tmp_path):
    predictor = pipeline(str(_save(tmp_path, tiny_encoder_dir, [NER, SENT])))
    calls = _count_encoder_calls(predictor)
    answers = predictor(TEXTS)
    assert len(calls) == 1  # three texts, two heads, one batch: one pass
    assert all({"ner", "sent"} <= set(a) for a in answers)


def test_a_token_budget_splits_batches_of_long_texts_and_changes_no_answer(tiny_encoder_dir, tmp_path):
    folder = str(_save(tmp_path, tiny_encoder_dir, [NER, SENT]))
    texts = [*TEXTS, "John " * 30 + "."]
    whole = pipeline(folder)
    assert whole.max_tokens == 512 and pipeline(folder, max_tokens=None).max_tokens is None  # a CPU's default budget
    budget = pipeline(folder, max_tokens=24)
    lengths = [len(ids) for ids in budget.tokenizer(texts)["input_ids"]]
    batches = budget._batches(texts)
    assert sorted(i for b in batches for i in b) == list(range(len(texts))) and len(whole._batches(texts)) == 1
    assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 24 for b in batches) and [3] in batches
    calls = _count_encoder_calls(budget)
    assert budget(texts) == whole(texts) and len(calls) == len(batches) > 1


@pytest.mark.parametrize(("sharing", "passes"), [({"type": "hierarchical", "task_layers": {"ner": 1}}, 1), ({"type": "lora", "r": 2}, 2)])
def test_passes_follow_the_sharing_strategy(sharing, passes, tiny_encoder_dir, tmp_path):
    predictor = pipeline(str(_save(tmp_path, tiny_encoder_dir, [NER, SENT], **sharing)))
    calls = _count_encoder_calls(predictor)
    predictor(TEXTS)
    assert len(calls) == passes


def test_answers_equal_the_evaluation_path_with_character_offsets(tiny_encoder_dir, tmp_path):
    folder = _save(tmp_path, tiny_encoder_dir, [NER, SENT])
    predictor = pipeline(str(folder))
    with torch.no_grad():  # make some words PER so there are entities to compare
        predictor.model.heads["ner"].classifier.bias.copy_(torch.tensor([0.0, 0.3, 0.0]))
    answers = predictor(TEXTS)
    model, tokenizer = predictor.model, predictor.tokenizer
    for config in (NER, SENT):
        task = build_task(config)
        columns = {"tokens": [t.split() for t in TEXTS], "tags": [["O"] * len(t.split()) for t in TEXTS]} if config is NER \
            else {"text": TEXTS, "label": ["neg"] * len(TEXTS)}
        encoded = task.preprocess(columns, tokenizer)
        encoded.pop("lost")
        batch = task.collator(tokenizer)([{k: encoded[k][i] for k in encoded} for i in range(len(TEXTS))])
        with torch.no_grad():
            predictions = decoded(task, model(task=config.name, **batch).logits, batch)
        for text, answer, expected in zip(TEXTS, answers, predictions):
            if config is SENT:
                assert answer["sent"]["label"] == expected
                continue
            from mtl_nlp.spans import entity_spans

            words = text.split()
            assert [(e["type"], e["text"]) for e in answer["ner"]["entities"]] == [(k, " ".join(words[s:e])) for k, s, e in entity_spans(expected)]
            assert all(text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1 for e in answer["ner"]["entities"])
    assert any(a["ner"]["entities"] for a in answers)


def test_relations_come_from_predicted_entities_one_marked_pass_per_pair(tiny_encoder_dir, tmp_path):
    predictor = pipeline(str(_save(tmp_path, tiny_encoder_dir, [NER, REL])))
    with torch.no_grad():  # every word a person; every pair a relation
        predictor.model.heads["ner"].classifier.bias.copy_(torch.tensor([0.0, 9.0, 0.0]))
        predictor.model.heads["rel"].classifier.bias.copy_(torch.tensor([0.0, 9.0]))
    answer = predictor("John met Mary")
    names = [e["text"] for e in answer["ner"]["entities"]]
    assert names == ["John", "met", "Mary"]
    relations = answer["rel"]["relations"]
    assert answer["rel"]["encoder_passes"] == 6 == len(relations)
    assert {(r["head"]["text"], r["tail"]["text"]) for r in relations} == {(h, t) for h in names for t in names if h != t}
    assert all(r["type"] == "knows" and r["head"]["start"] == "John met Mary".index(r["head"]["text"]) for r in relations)
    marked = predictor("<e1:PER>John</e1> met <e2:PER>Mary</e2>")
    assert marked["text"] == "John met Mary" and marked["rel"]["encoder_passes"] == 1
    assert [(r["head"]["text"], r["tail"]["text"]) for r in marked["rel"]["relations"]] == [("John", "Mary")]
    json.dumps(answer)  # JSON-ready
    calls = []  # the relation head's forward calls: the 9 pairs of three texts share one batch of 16
    forward = predictor.model.forward
    predictor.model.forward = lambda task=None, **batch: calls.append(task) or forward(task=task, **batch)
    predictor.batch_size = 16
    together = predictor(["John met Mary", "<e1:PER>Ann</e1> saw <e2:PER>Bo</e2>", "Ed ran"])
    assert calls.count("rel") == 1
    assert [a["rel"]["encoder_passes"] for a in together] == [6, 1, 2]
    assert [(r["head"]["text"], r["tail"]["text"]) for r in together[1]["rel"]["relations"]] == [("Ann", "Bo")]
    assert {(r["head"]["text"], r["tail"]["text"]) for r in together[2]["rel"]["relations"]} == {("Ed", "ran"), ("ran", "Ed")}
    assert [(r["head"], r["tail"], r["type"]) for r in together[0]["rel"]["relations"]] == [(r["head"], r["tail"], r["type"]) for r in relations]


def test_empty_and_over_long_texts_say_what_was_done(tiny_encoder_dir, tmp_path):
    """A tagger reads a long text in windows, every word of it; a text classifier reads its start and says so."""
    short_ner, short_sent = (TaskConfig(**{**c.__dict__, "max_length": 8}) for c in (NER, SENT))
    predictor = pipeline(str(_save(tmp_path, tiny_encoder_dir, [short_ner, short_sent])))
    with torch.no_grad():  # every word a one-word PER entity
        predictor.model.heads["ner"].classifier.bias.copy_(torch.tensor([0.0, 9.0, 0.0]))
    empty, long = predictor(["  ", "john " * 20])
    assert empty["warnings"] == ["empty text: there are no words to predict on, so no task ran"] and "ner" not in empty
    assert long["warnings"] == ["sent: the text is longer than the task's max_length of 8 sub-words; only its start was read"]
    assert [(e["start"], e["end"]) for e in long["ner"]["entities"]] == [(5 * i, 5 * i + 4) for i in range(20)]
    assert "sent" in long and "ner" in long


def test_serving_imports_neither_datasets_nor_peft():
    """Serving a model loads what serving needs: the training-side libraries would cost about 95 MiB per process."""
    import subprocess
    import sys

    code = "import sys, mtl_nlp.predict; print(sorted({'datasets', 'peft'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
