import dataclasses
import json
import logging

import torch

from conftest import ASSETS
from mtl_nlp.config import TaskConfig
from mtl_nlp.data import tokenize
from mtl_nlp.heads import pair_states, word_tags
from mtl_nlp.pooling import span_max
from mtl_nlp.readers import read_spert
from mtl_nlp.spans import entity_spans
from mtl_nlp.tasks.base import IGNORE_INDEX, decoded
from mtl_nlp.tasks.joint_entity_relation import JointEntityRelation

CONFIG = TaskConfig(
    name="conll04", type="joint_entity_relation", format="spert", files={"train": "x"},
    entity_types=["Loc", "Org", "Peop"], labels=["none", "Work_For", "OrgBased_In"], negative_label="none", metric="conll04",
)


def _batch(tokenizer):
    task = JointEntityRelation(CONFIG)
    raw = read_spert(str(ASSETS / "spert_sample.json"), {"tokens": "tokens", "entities": "entities", "relations": "relations"})
    encoded = task.preprocess(raw[:], tokenizer)
    rows = [{k: v[i] for k, v in encoded.items() if k != "lost"} for i in range(len(raw))]
    return task, raw, encoded, task.collator(tokenizer)(rows)


def test_gold_pairs_cover_every_ordered_entity_pair(tiny_tokenizer):
    task, _, encoded, _ = _batch(tiny_tokenizer)
    assert len(encoded["pair_spans"][0]) == 6 and encoded["pair_spans"][1] == []
    labels = dict(zip(map(tuple, encoded["pair_spans"][0]), encoded["pair_labels"][0]))
    pieces = tiny_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    work_for = [span for span, label in labels.items() if label == 1]
    assert len(work_for) == 1 and pieces[work_for[0][0] : work_for[0][1]] == ["john", "smith"]
    assert pieces[work_for[0][2] : work_for[0][3]] == ["acme"]
    assert sorted(labels.values()) == [0, 0, 0, 0, 1, 2] and encoded["lost"] == [0, 0]


def test_collator_pads_pairs_with_ignored_labels(tiny_tokenizer):
    _, _, _, batch = _batch(tiny_tokenizer)
    assert batch["pair_spans"].shape == (2, 6, 4) and (batch["labels"]["pairs"][1] == IGNORE_INDEX).all()
    assert batch["word_starts"][1].tolist()[-1] == -2  # padding words, not words cut by max_length
    assert batch["labels"]["tags"].shape == batch["input_ids"].shape


def test_training_uses_gold_pairs_and_eval_uses_predicted_entities(tiny_tokenizer):
    task, raw, _, batch = _batch(tiny_tokenizer)
    head = task.head(hidden_size=8)
    hidden = torch.randn(*batch["input_ids"].shape, 8)
    token_logits, pair_logits, pairs, words = head(hidden, batch)
    assert pair_logits.shape == (2, 6, 3) and pairs is None and words is None
    loss = task.loss((token_logits, pair_logits, pairs, words), batch["labels"])
    loss.backward()
    assert torch.isfinite(loss) and head.dense.weight.grad is not None

    head.eval()
    with torch.no_grad():
        head.tagger.weight.zero_()
        head.tagger.bias.copy_(torch.tensor([-1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0]))  # every word B-Loc
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # every pair the third label
    output = head(hidden, batch)
    predicted = [json.loads(x) for x in decoded(task, output, batch)]
    assert [e[2] for e in predicted[0]["entities"]] == ["Loc"] * 8 and len(output[2][0]) == 8 * 7
    assert len(predicted[0]["relations"]) == 8 * 7  # every ordered pair of predicted entities was classified
    assert {r[-1] for r in predicted[0]["relations"]} == {task.labels[2]}
    assert json.loads(task.references(raw[:])[0])["relations"][0] == [0, 2, "Peop", 4, 5, "Org", "Work_For"]


def test_in_eval_only_rows_that_found_a_pair_are_pooled_and_their_logits_are_the_whole_batchs(tiny_tokenizer):
    task, _, _, batch = _batch(tiny_tokenizer)
    head = task.head(hidden_size=8).eval()
    hidden = torch.randn(*batch["input_ids"].shape, 8)
    with torch.no_grad():
        head.tagger.weight.zero_()
        head.tagger.bias.copy_(torch.tensor([1.0, 2.0, -1.0, -1.0, -1.0, -1.0, -1.0]))  # every word B-Loc: many pairs
        every = head(hidden, batch)
        spans, pairs = head._predicted_pairs(every[3], batch["word_starts"], batch["attention_mask"])
        assert all(pairs) and torch.allclose(every[1], head._classify(hidden, spans), atol=1e-6)
        seen = []
        head.pool = lambda states, start, end: seen.append(states.shape[0]) or span_max(states, start, end)
        head.tagger.bias.copy_(torch.tensor([1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]))  # all O: no pair anywhere
        assert head(hidden, batch)[1].abs().sum() == 0 and seen == []
        logits = head._found_pair_logits(hidden, spans[:, :2], [[(0, 1)], []])  # only the first row holds a pair
        assert seen == [1] and torch.allclose(logits[0], head._classify(hidden[:1], spans[:1, :2])[0], atol=1e-6)
        assert logits[1].abs().sum() == 0


def test_viterbi_decoding_turns_a_run_of_inside_tags_into_one_entity(tiny_tokenizer):
    task, _, _, batch = _batch(tiny_tokenizer)
    found = {}
    for decoding in ("argmax", "viterbi"):
        task.config = dataclasses.replace(CONFIG, decoding=decoding)
        head = task.head(hidden_size=8).eval()
        with torch.no_grad():
            head.tagger.weight.zero_()
            head.tagger.bias.copy_(torch.tensor([-1.0, 0.5, 1.0, -1.0, -1.0, -1.0, -1.0]))  # I-Loc best, then B-Loc
            output = head(torch.randn(*batch["input_ids"].shape, 8), batch)
        found[decoding] = (json.loads(decoded(task, output, batch)[0])["entities"], len(output[2][0]), task.answers(output, batch)[0])
    words = 8
    assert found["argmax"][:2] == ([], 0)  # I-Loc after nothing: strict scoring finds no entity
    assert found["viterbi"][:2] == ([[0, words, "Loc"]], 0)  # B-Loc I-Loc ...: one entity, no pair to classify
    assert [(e["start"], e["end"]) for e in found["viterbi"][2]["entities"]] == [(0, words)]


def test_pair_states_pool_head_tail_and_gap():
    hidden = torch.arange(6, dtype=torch.float).view(1, 6, 1)
    spans = torch.tensor([[[1, 2, 4, 6], [4, 6, 1, 2], [1, 2, 2, 3]]])
    states = pair_states(hidden, spans)
    assert states[0, 0].tolist() == [1.0, 5.0, 3.0]  # head max, tail max, gap (positions 2..3) max
    assert states[0, 1].tolist() == [5.0, 1.0, 3.0]  # reversed direction: same gap
    assert states[0, 2].tolist() == [1.0, 2.0, 0.0]  # adjacent spans: empty gap reads zeros
    assert torch.equal(pair_states(hidden, spans, context=False), states[..., :2])  # the gap not pooled at all


def test_predictor_returns_entities_and_relations(tiny_encoder_dir, tmp_path):
    from mtl_nlp.encoders import load_encoder
    from mtl_nlp.modeling import MultiTaskModel
    from mtl_nlp.predict import Predictor

    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = MultiTaskModel.from_encoder(encoder, [CONFIG])
    with torch.no_grad():  # tag every word B-Peop so there are entities and pairs to classify
        model.heads["conll04"].tagger.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0]))
        model.heads["conll04"].classifier.bias.copy_(torch.tensor([0.0, 9.0, 0.0]))  # and every pair a relation
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    answer = Predictor(str(tmp_path))(["John works for Acme ."])[0]["conll04"]
    assert [e["text"] for e in answer["entities"]] == ["John", "works", "for", "Acme", "."]
    assert len(answer["relations"]) == 5 * 4
    assert all(r["type"] == CONFIG.labels[1] and r["head"]["type"] == "Peop" for r in answer["relations"])


def test_a_long_sentence_is_read_in_windows_and_its_entities_and_relations_merged(tiny_tokenizer):
    """A sentence four times max_length: windows hold each relation's pair whole, nothing is counted lost, and a head
    that tags every word right and labels every gold pair merges into exactly the sentence's gold answer."""
    words = ["john", "smith", "works", "for", "acme", "in", "paris", "."] * 4
    entities = [{"start": 8 * i + s, "end": 8 * i + e, "type": t} for i in range(4) for s, e, t in ((0, 2, "Peop"), (4, 5, "Org"))]
    relations = [{"head": 2 * i, "tail": 2 * i + 1, "type": "Work_For"} for i in range(4)]
    task = JointEntityRelation(dataclasses.replace(CONFIG, max_length=14, stride=4))
    raw = {"tokens": [words], "entities": [entities], "relations": [relations]}
    encoded = task.preprocess(raw, tiny_tokenizer)
    assert len(encoded["window"]) >= 3 and sum(encoded["lost"]) == 0 and all(len(ids) <= 14 for ids in encoded["input_ids"])
    batch = task.collator(tiny_tokenizer)([{k: v[i] for k, v in encoded.items() if k != "lost"} for i in range(len(encoded["window"]))])
    token_logits = torch.nn.functional.one_hot(batch["labels"]["tags"].clamp(min=0), len(task.tags)).float() * 5
    gold = {(e["start"], e["end"]): e for e in entities}
    related = {(id(entities[r["head"]]), id(entities[r["tail"]])) for r in relations}
    pairs, pair_logits, reads = [], [], []
    for row, starts in enumerate(batch["word_starts"].tolist()):  # the pairs the head builds from the predicted entities
        offset = encoded["own"][row][0]
        reads.append(word_tags(token_logits[row], starts, task.tags))
        found = [gold.get((s + offset, e + offset)) for _, s, e in entity_spans([tag for tag, _ in reads[-1]])]
        index = [(h, t) for h in range(len(found)) for t in range(len(found)) if h != t]
        label = [1 if found[h] and found[t] and (id(found[h]), id(found[t])) in related else 0 for h, t in index]
        pairs.append(index)
        pair_logits.append([[5.0 * (k == j) for k in range(3)] for j in label] or [[0.0] * 3])
    width = max(len(p) for p in pair_logits)
    padded = torch.tensor([p + [[0.0] * 3] * (width - len(p)) for p in pair_logits])
    merged = decoded(task, (token_logits, padded, pairs, reads), batch)
    assert [json.loads(m) for m in merged] == [json.loads(r) for r in task.references(raw)]


def test_a_relation_no_window_holds_whole_is_counted_lost(tiny_tokenizer):
    words = ["john"] + ["works"] * 20 + ["acme"]
    entities = [{"start": 0, "end": 1, "type": "Peop"}, {"start": 21, "end": 22, "type": "Org"}]
    task = JointEntityRelation(dataclasses.replace(CONFIG, max_length=10, stride=2))
    encoded = task.preprocess({"tokens": [words], "entities": [entities], "relations": [[{"head": 0, "tail": 1, "type": "Work_For"}]]},
                              tiny_tokenizer)
    assert encoded["lost"][0] == 1 and sum(encoded["lost"]) == 1  # the relation, counted once; both entities are held


def test_pair_features_follow_the_yaml_and_width_and_sentence_change_what_a_pair_reads():
    from mtl_nlp.heads import EntityPairHead

    hidden, spans = torch.randn(1, 6, 4), torch.tensor([[[1, 2, 4, 6], [1, 3, 4, 6]]])  # the two pairs differ in head width
    sizes = {}
    for features in (("spans",), ("spans", "context"), ("spans", "context", "width", "sentence")):
        head = EntityPairHead(4, 7, 3, ["O"] * 7, features=features)
        sizes[features] = head._pair_features(hidden, spans).shape[-1]
        assert head.dense.in_features == sizes[features]
    assert list(sizes.values()) == [8, 12, 12 + 50 + 4]  # two spans, + gap, + two 25-wide widths and [CLS]
    head = EntityPairHead(4, 7, 3, ["O"] * 7, features=("spans", "width", "sentence"))
    states = head._pair_features(hidden, spans)
    assert not torch.equal(states[0, 0, 8:33], states[0, 1, 8:33])  # head widths 1 and 2: different embeddings
    assert torch.equal(states[0, 0, 33:58], states[0, 1, 33:58])  # same tail width
    assert torch.equal(states[0, 0, -4:], hidden[0, 0]) and torch.equal(states[0, 1, -4:], hidden[0, 0])


def test_joint_relation_features_are_checked():
    problems = JointEntityRelation.config_problems
    assert problems(dataclasses.replace(CONFIG, relation_features=["spans", "width"])) == []
    legacy = JointEntityRelation(dataclasses.replace(CONFIG, relation_features=["markers"]))  # a model saved before
    assert legacy.head(8).dense.in_features == 3 * 8  # reads spans and context, as the head it was trained with
    for bad in (["context"], ["spans", "markers"], ["spans", "spans"]):
        assert [key for key, _ in problems(dataclasses.replace(CONFIG, relation_features=bad))] == ["relation_features"]


def test_relation_threshold_keeps_a_relation_type_only_when_it_is_likely_enough():
    task = JointEntityRelation(CONFIG)
    logits = torch.tensor([[2.0, 1.5, 0.0], [3.0, 0.0, 0.0], [0.0, 4.0, 0.0]]).log()  # probabilities ∝ these
    assert task._best_labels(logits)[1] == [0, 0, 1]  # argmax: the first pair is "none"
    task.config = dataclasses.replace(CONFIG, relation_threshold=0.4)
    scores, labels = task._best_labels(logits)
    assert labels == [1, 0, 1]  # Work_For at 1.5 / 3.5 = 0.43 reaches 0.4; 0 / 3 does not
    assert [round(s, 3) for s in scores] == [0.429, 1.0, 1.0]
    assert dataclasses.replace(CONFIG, relation_threshold=1.5).problems()[0].key == "relation_threshold"


def test_evaluate_reads_the_relations_at_another_threshold_on_the_same_weights(tiny_encoder_dir, tmp_path):
    from mtl_nlp.encoders import load_encoder
    from mtl_nlp.evaluation import evaluate_model
    from mtl_nlp.modeling import MultiTaskModel

    config = dataclasses.replace(CONFIG, files={"train": "spert_sample.json", "dev": "spert_sample.json"})
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = MultiTaskModel.from_encoder(encoder, [config])
    head = model.heads["conll04"]
    with torch.no_grad():  # every word B-Peop; every pair Work_For with probability e^0.9 / (e^0.9 + 2) = 0.55
        head.tagger.weight.zero_(), head.classifier.weight.zero_()
        head.tagger.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0]))
        head.classifier.bias.copy_(torch.tensor([0.0, 0.9, 0.0]))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    found = {}
    for threshold in (None, 0.5, 0.7):
        answers = tmp_path / f"answers-{threshold}"
        evaluate_model(str(tmp_path / "model"), data_dir=str(ASSETS), relation_threshold=threshold, predictions_dir=str(answers))
        found[threshold] = [len(doc["relations"]) for doc in json.loads((answers / "conll04.dev.json").read_text())]
    assert found[None] == found[0.5] == [8 * 7, 3 * 2] and found[0.7] == [0, 0]

    from scripts_loader import script_main

    out = tmp_path / "decoding"
    args = [str(tmp_path / "model"), "--tasks", "conll04", "--data-dir", str(ASSETS), "--relation-thresholds", "0.5", "0.7"]
    assert script_main("benchmark_decoding")([*args, "--out", str(out)]) == 0
    (row,) = json.loads((out / "decoding.json").read_text())["relation_thresholds"]
    assert row["task"] == "conll04" and set(row["thresholds"]) == {"0.5", "0.7"}
    assert "| as saved | 0.5 | 0.7 |" in (out / "decoding.md").read_text()


def test_case_features_reach_the_entity_tagger(tiny_tokenizer):
    task = JointEntityRelation(dataclasses.replace(CONFIG, case_features=True))
    raw = read_spert(str(ASSETS / "spert_sample.json"), {"tokens": "tokens", "entities": "entities", "relations": "relations"})
    encoded = task.preprocess(raw[:], tiny_tokenizer)
    assert [len(c) for c in encoded["word_case"]] == [len(i) for i in encoded["input_ids"]]
    batch = task.collator(tiny_tokenizer)([{k: v[i] for k, v in encoded.items() if k != "lost"} for i in range(len(raw))])
    assert batch["word_case"].shape == batch["input_ids"].shape and batch["word_case"][:, 0].eq(0).all()
    head = task.head(8).eval()
    token_logits = head(torch.zeros(*batch["input_ids"].shape, 8), batch)[0]
    assert head.tagger.in_features == 8 + head.cases.embedding_dim
    assert token_logits[0, 1:].unique(dim=0).shape[0] > 1  # equal states, the casing alone tells the words apart


SPANS = dataclasses.replace(CONFIG, entity_spans=3)


def _span_batch(tokenizer):
    task = JointEntityRelation(SPANS)
    raw = read_spert(str(ASSETS / "spert_sample.json"), {"tokens": "tokens", "entities": "entities", "relations": "relations"})
    encoded = task.preprocess(raw[:], tokenizer)
    rows = [{k: v[i] for k, v in encoded.items()} for i in range(len(raw))]
    return task, encoded, task.collator(tokenizer)(rows)


def test_span_candidates_are_every_span_up_to_the_width_labelled_with_its_gold_type(tiny_tokenizer):
    _, encoded, batch = _span_batch(tiny_tokenizer)
    gold = [(c[2], c[3], k) for c, k in zip(encoded["span_candidates"][0], encoded["span_labels"][0]) if k]
    assert gold == [(0, 2, 3), (4, 5, 2), (6, 7, 1)] and encoded["too_wide"] == [0, 0]  # listed once, in preprocess
    candidates, labels = batch["entity_candidates"], batch["labels"]["spans"]
    spans = {tuple(c[2:]): (tuple(c[:2]), k) for c, k in zip(candidates[0].tolist(), labels[0].tolist())}
    assert len(spans) == 8 + 7 + 6 == candidates.shape[1]  # 8 words, widths 1 to 3
    pieces = tiny_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    (start, end), kind = spans[(0, 2)]
    assert pieces[start:end] == ["john", "smith"] and kind == 3  # Peop, label 0 being "no entity"
    assert spans[(4, 5)][1] == 2 and spans[(6, 7)][1] == 1 and spans[(0, 1)][1] == 0
    assert (labels[1, 3 + 2 + 1 :] == IGNORE_INDEX).all()  # 3 words: 6 candidates, then padding
    assert candidates[1, 6:].abs().sum() == 0


def test_span_classifier_trains_and_its_entities_feed_the_pairs(tiny_tokenizer):
    task, _, batch = _span_batch(tiny_tokenizer)
    head = task.head(hidden_size=8)
    assert not hasattr(head, "tagger")
    hidden = torch.randn(*batch["input_ids"].shape, 8)
    entity_logits, pair_logits, _, _ = head(hidden, batch)
    assert entity_logits.shape == (*batch["entity_candidates"].shape[:2], 4)
    loss = task.loss((entity_logits, pair_logits), batch["labels"])
    loss.backward()
    assert torch.isfinite(loss) and head.entity_classifier.first.weight.grad.abs().sum() > 0

    head.eval()
    with torch.no_grad():
        head.entity_classifier.out.weight.zero_()
        head.entity_classifier.out.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 3.0]))  # every span Peop, equally likely
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    output = head(hidden, batch)
    predicted = [json.loads(x) for x in decoded(task, output, batch)]
    assert predicted[0]["entities"] == [[i, i + 1, "Peop"] for i in range(8)]  # ties: the first spans, no overlaps
    assert len(predicted[0]["relations"]) == 8 * 7 and len(predicted[1]["relations"]) == 3 * 2
    with torch.no_grad():
        head.entity_classifier.out.bias.copy_(torch.tensor([3.0, 0.0, 0.0, 0.0]))  # every span no entity
    assert [json.loads(x)["entities"] for x in decoded(task, head(hidden, batch), batch)] == [[], []]


def test_span_classifier_settings_are_checked(tiny_tokenizer, caplog):
    problems = dict(JointEntityRelation.config_problems(dataclasses.replace(SPANS, decoding="viterbi")))
    assert "classified spans" in problems["decoding"]
    assert "entity_spans" in str(dataclasses.replace(SPANS, entity_spans=0).problems()[0])
    task = JointEntityRelation(dataclasses.replace(SPANS, entity_spans=1))
    raw = read_spert(str(ASSETS / "spert_sample.json"), {"tokens": "tokens", "entities": "entities", "relations": "relations"})
    assert task.preprocess(raw[:], tiny_tokenizer)["too_wide"] == [1, 0]  # "John Smith" is two words
    with caplog.at_level(logging.WARNING):
        out = tokenize(raw, task, tiny_tokenizer, "conll04/train")
    assert "conll04/train: 1 gold entit(ies) wider than entity_spans=1 words" in caplog.text  # the task's own count
    assert "cut by max_length" not in caplog.text and not {"too_wide", "lost"} & set(out.column_names)


def test_a_saved_span_classifier_serves_entities_and_relations(tiny_encoder_dir, tmp_path):
    from mtl_nlp.encoders import load_encoder
    from mtl_nlp.modeling import MultiTaskModel
    from mtl_nlp.predict import Predictor

    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = MultiTaskModel.from_encoder(encoder, [SPANS])
    with torch.no_grad():  # every span Org, and every pair a relation
        model.heads["conll04"].entity_classifier.out.bias.copy_(torch.tensor([0.0, 0.0, 9.0, 0.0]))
        model.heads["conll04"].classifier.bias.copy_(torch.tensor([0.0, 0.0, 9.0]))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    answer = Predictor(str(tmp_path))(["John works for Acme ."])[0]["conll04"]
    entities = answer["entities"]  # spans that tile the sentence (most probable first, no overlaps), all Org
    assert " ".join(e["text"] for e in entities) == "John works for Acme ." and {e["type"] for e in entities} == {"Org"}
    assert len(answer["relations"]) == len(entities) * (len(entities) - 1) > 0
    assert {r["type"] for r in answer["relations"]} == {"OrgBased_In"}


def test_entity_negative_weight_weighs_the_spans_that_are_no_entity(tiny_tokenizer):
    task, _, batch = _span_batch(tiny_tokenizer)
    torch.manual_seed(0)
    logits = torch.randn(*batch["entity_candidates"].shape[:2], 4)
    pairs = torch.zeros(*batch["labels"]["pairs"].shape, 3)
    spans = batch["labels"]["spans"]
    per_span = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), spans.reshape(-1), reduction="none", ignore_index=IGNORE_INDEX)
    weight = torch.where(spans.reshape(-1) == 0, 0.1, 1.0) * (spans.reshape(-1) != IGNORE_INDEX)
    task.config = dataclasses.replace(SPANS, entity_negative_weight=0.1)
    unpaired = {**batch["labels"], "pairs": torch.full_like(batch["labels"]["pairs"], IGNORE_INDEX)}
    assert torch.allclose(task.loss((logits, pairs), unpaired), (per_span * weight).sum() / weight.sum())
    problems = dict(JointEntityRelation.config_problems(dataclasses.replace(CONFIG, entity_negative_weight=0.1)))
    assert "set entity_spans" in problems["entity_negative_weight"]
    assert "entity_negative_weight" in str(dataclasses.replace(SPANS, entity_negative_weight=2.0).problems()[0])
