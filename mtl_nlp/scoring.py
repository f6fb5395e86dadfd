"""``mtl-nlp score``: the official figures for any system's output files, read in each benchmark's own format."""

from __future__ import annotations

import json
from pathlib import Path

from mtl_nlp import metrics
from mtl_nlp.errors import DataFormatError
from mtl_nlp.readers import read_semeval

SKIPPED = "_SKIPPED_"  # an id with no prediction: proposed as no relation type, so only recall suffers (as in v1.2)


def read_conll_tags(path: str) -> list[tuple[int, list[str]]]:
    """(first line, tags) per sentence of a CoNLL column file; the tag is the last column."""
    sentences, tags, start = [], [], 0
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("-DOCSTART-"):
            if tags:
                sentences.append((start, tags))
            tags = []
            continue
        start = start if tags else number
        tags.append(line.split()[-1])
    if tags:
        sentences.append((start, tags))
    return sentences


def score_seqeval(predictions: str, gold: str) -> dict:
    pred, ref = read_conll_tags(predictions), read_conll_tags(gold)
    if len(pred) != len(ref):
        raise DataFormatError(f"has {len(pred)} sentences but the gold file {gold} has {len(ref)}", path=predictions)
    for (line, p), (_, r) in zip(pred, ref):
        if len(p) != len(r):
            raise DataFormatError(f"sentence has {len(p)} tokens, its gold sentence {len(r)}", path=predictions, line=line)
    return metrics.compute("seqeval", [p for _, p in pred], [r for _, r in ref], labels=[], negative_label=None)


def read_answers(path: str) -> dict[str, str]:
    """``<id>\\t<label>`` lines (the official answer format) or, for gold, the dataset's own 4-line format."""
    text = Path(path).read_text(encoding="utf-8")
    if '\t"' in text.split("\n", 1)[0]:
        ds = read_semeval(path, {"id": "id", "label": "label"})
        return dict(zip(ds["id"], ds["label"]))
    answers = {}
    for number, line in enumerate(text.splitlines(), start=1):
        sent_id, tab, label = line.strip().partition("\t")
        if not tab or not sent_id.isdigit() or not label:
            raise DataFormatError("expected '<id><TAB><label>'", path=path, line=number)
        if sent_id in answers:
            raise DataFormatError(f"id {sent_id} appears twice", path=path, line=number)
        answers[sent_id] = label
    return answers


def score_semeval(predictions: str, gold: str) -> dict:
    pred, ref = read_answers(predictions), read_answers(gold)
    unknown = sorted(set(pred) - set(ref), key=int)
    if unknown:
        raise DataFormatError(f"has ids not in the gold file {gold}: {unknown[:5]}", path=predictions)
    ids = list(ref)
    return metrics.compute("semeval2010_task8", [pred.get(i, SKIPPED) for i in ids], [ref[i] for i in ids], labels=[], negative_label=None)


def spert_as_json(sentence: dict) -> str:
    entities = [[e["start"], e["end"], e["type"]] for e in sentence.get("entities", [])]
    relations = [[*entities[r["head"]], *entities[r["tail"]], r["type"]] for r in sentence.get("relations", [])]
    return json.dumps({"entities": entities, "relations": relations})


def score_conll04(predictions: str, gold: str) -> dict:
    pred, ref = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (predictions, gold))
    if len(pred) != len(ref):
        raise DataFormatError(f"has {len(pred)} sentences but the gold file {gold} has {len(ref)}", path=predictions)
    return metrics.compute("conll04", [spert_as_json(s) for s in pred], [spert_as_json(s) for s in ref], labels=[], negative_label=None)


SCORERS = {"seqeval": score_seqeval, "semeval2010_task8": score_semeval, "conll04": score_conll04}
