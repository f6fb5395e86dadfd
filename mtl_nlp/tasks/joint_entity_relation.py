"""Joint entity and relation extraction (CoNLL04, SpERT JSON): entities tagged by a token head, relations classified
over every ordered pair of entities, both reading the shared encoder.

Training classifies all ordered pairs of *gold* entities (pairs with no relation get ``negative_label``); evaluation
and prediction classify all ordered pairs of *predicted* entities, so a relation counts only if both of its entities
were found with the right span and type (SpERT's strict setting).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from mtl_nlp.answers import write_spert
from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import EntityPairHead, predicted_entities, word_tags
from mtl_nlp.spans import subword_span
from mtl_nlp.tasks.base import IGNORE_INDEX, scored_entities


def bio_tags(length: int, entities: list[dict]) -> list[str]:
    tags = ["O"] * length
    for entity in entities:
        tags[entity["start"] : entity["end"]] = [f"B-{entity['type']}"] + [f"I-{entity['type']}"] * (entity["end"] - entity["start"] - 1)
    return tags


class JointEntityRelation:
    """Entities and the directed relations between them, from one sentence and one encoder pass."""

    hub_task = "token-classification"  # the Hub's task id, for model cards
    required_roles = ("tokens", "entities", "relations")
    optional_roles: tuple[str, ...] = ()
    label_role = None  # labels sit inside the entity and relation objects; check() verifies them

    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.labels = list(config.labels)
        self.tags = ["O"] + [f"{p}-{t}" for t in config.entity_types for p in ("B", "I")]
        self.negative = self.labels.index(config.negative_label) if config.negative_label in self.labels else 0

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]:
        """(key, message) for settings this task type cannot work with."""
        if not config.entity_types:
            return [("entity_types", "joint extraction tags the entity types it is given: list them, e.g. [Loc, Org, Peop]")]
        return []

    def special_tokens(self) -> list[str]:
        return []

    def check(self, example: dict) -> str | None:
        tokens, entities = example["tokens"], example["entities"]
        for i, e in enumerate(entities):
            if not 0 <= e["start"] < e["end"] <= len(tokens):
                return f"entity {i} span [{e['start']}, {e['end']}) is outside the {len(tokens)} tokens"
            if e["type"] not in self.config.entity_types:
                return f"entity {i} type {e['type']!r} is not in the task's entity_types {self.config.entity_types}"
        for r in example["relations"]:
            if not (0 <= r["head"] < len(entities) and 0 <= r["tail"] < len(entities)):
                return f"relation {r} points outside the {len(entities)} entities (head/tail index the entity list)"
            if r["type"] not in self.labels:
                return f"relation type {r['type']!r} is not in the labels {self.labels}; add it or fix the data"
        return None

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=self.config.max_length)
        tag_index = {t: i for i, t in enumerate(self.tags)}
        out = {k: list(v) for k, v in encoded.items()}
        out.update(labels=[], word_starts=[], pair_spans=[], pair_labels=[], lost=[])
        for row, (tokens, entities, relations) in enumerate(zip(batch["tokens"], batch["entities"], batch["relations"])):
            word_ids = encoded.word_ids(row)
            starts = [-1] * len(tokens)
            for position, word in enumerate(word_ids):
                if word is not None and starts[word] < 0:
                    starts[word] = position
            tags = bio_tags(len(tokens), entities)
            out["labels"].append([tag_index[tags[w]] if w is not None and starts[w] == j else IGNORE_INDEX for j, w in enumerate(word_ids)])
            out["word_starts"].append(starts)
            spans = [subword_span(starts, e["start"], e["end"], len(word_ids)) for e in entities]
            related = {(r["head"], r["tail"]): self.labels.index(r["type"]) for r in relations}
            pairs = [(h, t) for h in range(len(entities)) for t in range(len(entities)) if h != t and spans[h] and spans[t]]
            out["pair_spans"].append([[*spans[h], *spans[t]] for h, t in pairs])
            out["pair_labels"].append([related.get(p, self.negative) for p in pairs])
            out["lost"].append(sum(s is None for s in spans))
        return out

    def collator(self, tokenizer: PreTrainedTokenizerBase):
        return JointCollator(tokenizer)

    def head(self, hidden_size: int) -> nn.Module:
        return EntityPairHead(hidden_size, len(self.tags), len(self.labels), self.tags, decoding=self.config.decoding)

    def loss(self, logits: tuple, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        token_logits, pair_logits, _ = logits
        entity = nn.functional.cross_entropy(token_logits.flatten(0, 1).float(), labels["tags"].flatten(), ignore_index=IGNORE_INDEX)
        targets = labels["pairs"].flatten()
        if not (targets != IGNORE_INDEX).any():  # no sentence in the batch has two entities
            return entity
        relation = nn.functional.cross_entropy(pair_logits.flatten(0, 1).float(), targets, ignore_index=IGNORE_INDEX)
        return entity + relation

    def decode(self, logits: tuple, batch: dict[str, torch.Tensor]) -> list[str]:
        """One JSON string per sentence: predicted entities and relations, in word offsets (SpERT's shape)."""
        token_logits, pair_logits, pairs = logits
        out = []
        for row, starts in enumerate(batch["word_starts"].tolist()):
            found = predicted_entities(token_logits[row], starts, self.tags, self.config.decoding)
            entities = [[s, e, kind] for kind, s, e in found]
            relations = []
            for (h, t), label in zip(pairs[row], pair_logits[row].argmax(-1).tolist()):
                if label != self.negative:
                    relations.append([*entities[h], *entities[t], self.labels[label]])
            out.append(json.dumps({"entities": entities, "relations": relations}))
        return out

    def text_inputs(self, words: list[str], text: str) -> dict[str, list]:
        return {"tokens": [words], "entities": [[]], "relations": [[]]}

    def answers(self, logits: tuple, batch: dict[str, torch.Tensor]) -> list[dict]:
        """Entities (scored by their words' tag probabilities) and the relations the head found between them."""
        token_logits, pair_logits, pairs = logits
        out = []
        for row, starts in enumerate(batch["word_starts"].tolist()):
            read = word_tags(token_logits[row], starts, self.tags, self.config.decoding)
            entities = scored_entities([tag for tag, _ in read], [p for _, p in read])
            relation_best = pair_logits[row].float().softmax(-1).max(-1)
            relations = [
                {"head": h, "tail": t, "type": self.labels[k], "score": round(p, 4)}
                for (h, t), p, k in zip(pairs[row], relation_best.values.tolist(), relation_best.indices.tolist())
                if k != self.negative
            ]
            out.append({"entities": entities, "relations": relations})
        return out

    def write_answers(self, raw, predictions: list, folder: Path, stem: str) -> Path:
        """Predictions in the benchmark's own answer format (``<stem>.json``), for its official scorer."""
        return write_spert(raw, predictions, folder / f"{stem}.json")

    def references(self, batch: dict[str, list]) -> list[str]:
        out = []
        for entities, relations in zip(batch["entities"], batch["relations"]):
            ents = [[e["start"], e["end"], e["type"]] for e in entities]
            rels = [[*ents[r["head"]], *ents[r["tail"]], r["type"]] for r in relations]
            out.append(json.dumps({"entities": ents, "relations": rels}))
        return out


class JointCollator:
    """Pads the encoder inputs with the tokenizer, and token tags, word starts and entity pairs by hand."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        encoder_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features[0]]
        batch = self.tokenizer.pad([{k: f[k] for k in encoder_keys} for f in features], return_tensors="pt")
        length = batch["input_ids"].shape[1]
        words = max(len(f["word_starts"]) for f in features)
        pairs = max(1, max(len(f["pair_labels"]) for f in features))
        batch["word_starts"] = torch.tensor([f["word_starts"] + [-2] * (words - len(f["word_starts"])) for f in features])
        batch["pair_spans"] = torch.tensor([f["pair_spans"] + [[0, 1, 0, 1]] * (pairs - len(f["pair_spans"])) for f in features])
        batch["labels"] = {
            "tags": torch.tensor([f["labels"] + [IGNORE_INDEX] * (length - len(f["labels"])) for f in features]),
            "pairs": torch.tensor([f["pair_labels"] + [IGNORE_INDEX] * (pairs - len(f["pair_labels"])) for f in features]),
        }
        return batch
