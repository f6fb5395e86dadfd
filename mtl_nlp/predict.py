"""Predictions from a saved model folder for raw text: entities, relations between marked spans, and labels."""

from __future__ import annotations

import json

import torch

from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.spans import entity_spans
from mtl_nlp.tasks import build_task
from mtl_nlp.text import parse_marked, words


class Predictor:
    """Holds a loaded model and tokenizer; call it with texts to get one dict of per-task answers per text."""

    def __init__(self, model_dir: str, tasks: list[str] | None = None) -> None:
        from transformers import AutoTokenizer

        self.model = MultiTaskModel.from_pretrained(model_dir).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        configs = [c for c in self.model.config.task_configs() if tasks is None or c.name in tasks]
        self.tasks = {c.name: build_task(c) for c in configs}

    def __call__(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        out = [{"text": text} for text in texts]
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            for name, task in self.tasks.items():
                for row, answer in self._run(name, task, chunk):
                    out[start + row][name] = answer
        return out

    @torch.no_grad()
    def _run(self, name: str, task, texts: list[str]) -> list[tuple[int, dict]]:
        rows, columns = _rows_for(task, texts)
        if not rows:
            return []
        encoded = task.preprocess(columns, self.tokenizer)
        encoded.pop("lost")
        features = [{k: encoded[k][i] for k in encoded} for i in range(len(rows))]
        batch = task.collator(self.tokenizer)(features)
        logits = self.model(task=name, **batch).logits
        decoded = task.decode(logits, batch)
        return [(row, _answer(task, columns, i, prediction, logits)) for i, (row, prediction) in enumerate(zip(rows, decoded))]


def _answer(task, columns: dict[str, list], i: int, prediction, logits) -> dict:
    """One task's answer for one text: entities (with their words), entities and relations, or a scored label."""
    if task.label_role == "tags":
        tokens = columns["tokens"][i]
        return {"entities": [_entity(tokens, s, e, k) for k, s, e in entity_spans(prediction)]}
    if "entities" in task.required_roles:
        tokens, found = columns["tokens"][i], json.loads(prediction)
        return {
            "entities": [_entity(tokens, s, e, k) for s, e, k in found["entities"]],
            "relations": [
                {"type": r[6], "head": _entity(tokens, *r[0:3]), "tail": _entity(tokens, *r[3:6])} for r in found["relations"]
            ],
        }
    return {"label": prediction, "score": round(float(logits[i].float().softmax(-1).max()), 4)}


def _entity(tokens: list[str], start: int, end: int, kind: str) -> dict:
    return {"type": kind, "start": start, "end": end, "text": " ".join(tokens[start:end])}


def _rows_for(task, texts: list[str]) -> tuple[list[int], dict[str, list]]:
    """The task's input columns for the texts it can read, with placeholder labels (decode ignores them)."""
    placeholder = task.labels[0]
    if "entities" in task.required_roles:  # joint extraction: the entities are what it predicts
        tokens = [words(t) for t in texts]
        keep = [i for i, t in enumerate(tokens) if t]
        return keep, {"tokens": [tokens[i] for i in keep], "entities": [[] for _ in keep], "relations": [[] for _ in keep]}
    if task.label_role == "tags":
        tokens = [words(t) for t in texts]
        keep = [i for i, t in enumerate(tokens) if t]
        return keep, {"tokens": [tokens[i] for i in keep], "tags": [[placeholder] * len(tokens[i]) for i in keep]}
    if "head" in task.required_roles:
        parsed = {i: parse_marked(t) for i, t in enumerate(texts)}
        keep = [i for i, p in parsed.items() if p is not None]
        return keep, {
            "tokens": [parsed[i][0] for i in keep],
            "head": [parsed[i][1] for i in keep],
            "tail": [parsed[i][2] for i in keep],
            "label": [placeholder] * len(keep),
        }
    return list(range(len(texts))), {"text": list(texts), "label": [placeholder] * len(texts)}
