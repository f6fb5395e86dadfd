"""Joint entity and relation extraction (CoNLL04, SpERT JSON): entities tagged by a token head or, with
``entity_spans``, classified span by span (as SpERT and PURE do); relations classified over every ordered pair of entities; all
reading the shared encoder.

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
from mtl_nlp.heads import PAIR_FEATURES, EntityPairHead
from mtl_nlp.spans import subword_span
from mtl_nlp.tasks.base import (
    IGNORE_INDEX,
    as_read,
    case_collator,
    cross_entropy,
    cut_by_max_length,
    in_batch,
    scored_entities,
    unread,
    window_cases,
)
from mtl_nlp.windows import plan


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
        self.types = list(config.entity_types)
        self.negative = self.labels.index(config.negative_label) if config.negative_label in self.labels else 0

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]:
        """(key, message) for settings this task type cannot work with."""
        out = unread(config, "entity_markers", "swapped_pairs")
        if not config.entity_types:
            out.append(("entity_types", "joint extraction tags the entity types it is given: list them, e.g. [Loc, Org, Peop]"))
        features = _features(config)
        if (not isinstance(features, list) or "spans" not in features or not set(features) <= set(PAIR_FEATURES)
                or len(set(features)) != len(features)):
            out.append(("relation_features", f"joint extraction reads spans plus any of {', '.join(PAIR_FEATURES[1:])}, "
                                             f"each once, e.g. [spans, context, width]; got {features!r}"))
        if config.entity_negative_weight is not None and not config.entity_spans:
            out.append(("entity_negative_weight", "weighs the span classifier's negatives: set entity_spans, or remove it"))
        if config.entity_spans and config.decoding != "argmax":
            out.append(("decoding", "with entity_spans the entities are classified spans, not tags to decode; remove it"))
        return out

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
        """One row per window (one per sentence unless it is longer than ``max_length``): tags for every word in it,
        and the ordered pairs of the gold entities that lie wholly inside it; with ``entity_spans``, every candidate
        span and its label (type + 1, or 0 for none). On a sentence's first row, ``lost`` counts the entities and
        relations no window holds whole and ``too_wide`` the entities wider than the widest candidate."""
        rows, windows = plan(batch["tokens"], tokenizer, self.config.max_length, self.config.stride)
        pieces = [(row, k, w) for row, ws in enumerate(windows) for k, w in enumerate(ws)]
        encoded = tokenizer([rows[row][w.start : w.end] for row, _, w in pieces], is_split_into_words=True,
                            truncation=True, max_length=self.config.max_length)
        tag_index = {t: i for i, t in enumerate(self.tags)}
        out = {k: list(v) for k, v in encoded.items()}
        out.update(labels=[], word_starts=[], pair_spans=[], pair_labels=[], window=[], own=[], lost=[])
        if self.config.entity_spans:  # every span the classifier labels, and its gold label
            out.update(span_candidates=[], span_labels=[], too_wide=[])
        if self.config.case_features:  # each sub-word's casing id, read by the tagger
            out["word_case"] = window_cases(batch["tokens"], encoded, pieces)
        held: dict[int, tuple[set, set]] = {}  # per sentence: entities and relations some window holds whole
        for i, (row, k, w) in enumerate(pieces):
            entities, relations = batch["entities"][row], batch["relations"][row]
            word_ids = encoded.word_ids(i)
            starts = [-1] * (w.end - w.start)
            for position, word in enumerate(word_ids):
                if word is not None and starts[word] < 0:
                    starts[word] = position
            tags = bio_tags(len(rows[row]), entities)[w.start : w.end]
            out["labels"].append([tag_index[tags[v]] if v is not None and starts[v] == j else IGNORE_INDEX for j, v in enumerate(word_ids)])
            out["word_starts"].append(starts)
            inside = [e["start"] >= w.start and e["end"] <= w.end for e in entities]
            spans = [subword_span(starts, e["start"] - w.start, e["end"] - w.start, len(word_ids)) if whole else None
                     for e, whole in zip(entities, inside)]
            related = {(r["head"], r["tail"]): self.labels.index(r["type"]) for r in relations}
            pairs = [(h, t) for h in range(len(entities)) for t in range(len(entities)) if h != t and spans[h] and spans[t]]
            out["pair_spans"].append([[*spans[h], *spans[t]] for h, t in pairs])
            out["pair_labels"].append([related.get(p, self.negative) for p in pairs])
            if self.config.entity_spans:
                gold = {(e["start"] - w.start, e["end"] - w.start): self.types.index(e["type"]) + 1
                        for e, span in zip(entities, spans) if span}
                candidates = span_candidates(starts, len(word_ids), self.config.entity_spans)
                out["span_candidates"].append(candidates)
                out["span_labels"].append([gold.get((i, j), 0) for _, _, i, j in candidates])
                out["too_wide"].append(0 if k else sum(e["end"] - e["start"] > self.config.entity_spans for e in entities))
            out["window"].append(k)
            out["own"].append([w.start, w.own_start, w.own_end])
            kept_entities, kept_relations = held.setdefault(row, (set(), set()))
            kept_entities.update(e for e, span in enumerate(spans) if span)
            kept_relations.update(p for p in pairs if p in related)
        for row, k, _ in pieces:
            kept_entities, kept_relations = held[row]
            missing = len(batch["entities"][row]) - len(kept_entities) + len(batch["relations"][row]) - len(kept_relations)
            out["lost"].append(0 if k else missing)
        return out

    def counted(self) -> dict[str, str]:
        out = cut_by_max_length(self.config, "gold entit(ies) and relation(s)")
        if self.config.entity_spans:
            out["too_wide"] = (f"{{n}} gold entit(ies) wider than entity_spans={self.config.entity_spans} words, which the "
                               f"span classifier never proposes; raise the task's entity_spans to find them")
        return out

    for_training = staticmethod(as_read)

    def collator(self, tokenizer: PreTrainedTokenizerBase):
        collate = JointCollator(tokenizer)
        return case_collator(collate, tokenizer) if self.config.case_features else collate

    def head(self, hidden_size: int) -> nn.Module:
        return EntityPairHead(hidden_size, len(self.tags), len(self.labels), self.tags, dropout=self.config.head_dropout,
                              decoding=self.config.decoding, features=tuple(_features(self.config)),
                              cases=bool(self.config.case_features), span_words=self.config.entity_spans)

    def loss(self, logits: tuple, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean loss over the batch's tagged words (or candidate spans) plus the mean over its entity pairs."""
        entity_logits, pair_logits = logits[:2]
        smoothing = self.config.label_smoothing
        if self.config.entity_spans:  # label 0, no entity, weighs entity_negative_weight
            weights = torch.ones(entity_logits.shape[-1], device=entity_logits.device)
            weights[0] = self.config.entity_negative_weight or 1.0
            entity = cross_entropy(entity_logits, labels["spans"], smoothing, weights)
        else:
            entity = cross_entropy(entity_logits, labels["tags"], smoothing)
        if not (labels["pairs"] != IGNORE_INDEX).any():  # no sentence in the batch has two entities
            return entity
        return entity + cross_entropy(pair_logits, labels["pairs"], smoothing)

    def decode(self, logits: tuple, batch: dict[str, torch.Tensor]) -> list[dict]:
        """Per row: the entities (word offsets of the whole sentence, scored) whose first word its window owns, and
        a label for every ordered pair of the entities it found, with the pair's ``margin`` from the window's edges."""
        _, pair_logits, pairs, words_read = logits
        own = batch["own"].tolist() if "own" in batch else None
        out = []
        for row, read in enumerate(words_read):  # (tag, probability) per word, as the head read them to build its pairs
            words = len(read)
            start, own_start, own_end = own[row] if own else (0, 0, words)
            entities = scored_entities([tag for tag, _ in read], [p for _, p in read])
            scores, labels = self._best_labels(pair_logits[row])
            pieces = [
                {"head": _shifted(entities[h], start), "tail": _shifted(entities[t], start), "type": self.labels[k],
                 "score": round(p, 4), "margin": min(entities[h]["start"], entities[t]["start"],
                                                     words - entities[h]["end"], words - entities[t]["end"])}
                for (h, t), p, k in zip(pairs[row], scores, labels)
            ]
            entities = [_shifted(e, start) for e in entities if own_start <= e["start"] + start < own_end]
            out.append({"entities": entities, "pairs": pieces})
        return out

    def _best_labels(self, pair_logits: torch.Tensor) -> tuple[list[float], list[int]]:
        """Each pair's probability and label: the most likely label, or with ``relation_threshold`` the most likely
        relation type when its probability reaches the threshold, else the negative label."""
        probabilities = pair_logits.float().softmax(-1)
        if self.config.relation_threshold is None:
            best = probabilities.max(-1)
            return best.values.tolist(), best.indices.tolist()
        types = probabilities.clone()
        types[:, self.negative] = -1.0
        top = types.max(-1)
        kept = top.values >= self.config.relation_threshold
        negative = torch.full_like(top.indices, self.negative)
        return (torch.where(kept, top.values, probabilities[:, self.negative]).tolist(),
                torch.where(kept, top.indices, negative).tolist())

    def merge(self, pieces: list[dict]) -> str:
        """One JSON string per sentence: predicted entities and relations, in word offsets (SpERT's shape)."""
        joined = self._joined(pieces)
        entities = [[e["start"], e["end"], e["type"]] for e in joined["entities"]]
        relations = [[*entities[r["head"]], *entities[r["tail"]], r["type"]] for r in joined["relations"]]
        return json.dumps({"entities": entities, "relations": relations})

    def _joined(self, pieces: list[dict]) -> dict:
        """A sentence's entities (each from the window that owns its first word) and the relations between two of
        them (``head``/``tail`` index that list), each pair labelled by the window where it sits furthest from an edge."""
        entities = [e for piece in pieces for e in piece["entities"]]
        index = {_key(e): i for i, e in enumerate(entities)}
        chosen: dict[tuple, dict] = {}
        for pair in (p for piece in pieces for p in piece["pairs"]):
            key = (_key(pair["head"]), _key(pair["tail"]))
            if key[0] in index and key[1] in index and (key not in chosen or pair["margin"] > chosen[key]["margin"]):
                chosen[key] = pair
        relations = [{"head": index[h], "tail": index[t], "type": p["type"], "score": p["score"]}
                     for (h, t), p in chosen.items() if p["type"] != self.labels[self.negative]]
        return {"entities": entities, "relations": relations}

    def text_inputs(self, words: list[str], text: str) -> dict[str, list]:
        return {"tokens": [words], "entities": [[]], "relations": [[]]}

    def answers(self, logits: tuple, batch: dict[str, torch.Tensor]) -> list[dict]:
        """Per sentence (its windows all in ``batch``): entities scored by their words' tag probabilities, and the
        relations the head found between them (``head``/``tail`` index the entities)."""
        return [self._joined(pieces) for pieces in in_batch(self, logits, batch)]

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


def _shifted(entity: dict, offset: int) -> dict:
    return {**entity, "start": entity["start"] + offset, "end": entity["end"] + offset}


def _key(entity: dict) -> tuple[int, int, str]:
    return entity["start"], entity["end"], entity["type"]


def span_candidates(word_starts: list[int], length: int, widest: int) -> list[list[int]]:
    """Every span of 1 to ``widest`` words whose sub-words the window holds: [sub-word start, end, word start, end]."""
    words = len(word_starts)
    found = [(subword_span(word_starts, i, j, length), i, j) for i in range(words) for j in range(i + 1, min(words, i + widest) + 1)]
    return [[*sub, i, j] for sub, i, j in found if sub]


class JointCollator:
    """Pads the encoder inputs with the tokenizer, and token tags, word starts, entity pairs and (when the task
    classifies spans) candidate spans by hand."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        encoder_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features[0]]
        batch = self.tokenizer.pad([{k: f[k] for k in encoder_keys} for f in features], return_tensors="pt")
        column = {key: [f[key] for f in features] for key in features[0]}
        for key in ("window", "own"):
            if key in column:
                batch[key] = torch.tensor(column[key])
        batch["word_starts"] = padded(column["word_starts"], -2)
        batch["pair_spans"] = padded(column["pair_spans"], [0, 1, 0, 1])
        batch["labels"] = {"tags": padded(column["labels"], IGNORE_INDEX, batch["input_ids"].shape[1]),
                           "pairs": padded(column["pair_labels"], IGNORE_INDEX)}
        if "span_candidates" in column:  # [rows, candidates, 4]
            batch["entity_candidates"] = padded(column["span_candidates"], [0, 0, 0, 0])
            batch["labels"]["spans"] = padded(column["span_labels"], IGNORE_INDEX)
        return batch


def padded(rows: list[list], fill: int | list[int], width: int | None = None) -> torch.Tensor:
    """One tensor from rows of unequal length, each filled with ``fill`` to ``width`` (default: the longest, at least 1)."""
    width = width or max(1, max(len(row) for row in rows))
    return torch.tensor([row + [fill] * (width - len(row)) for row in rows])


def _features(config: TaskConfig) -> list[str]:
    """The pair features the task names; unset, spans and context. Model folders saved before the joint head read
    this key hold ``[markers]`` (then every task's default, which this head ignored): they get spans and context."""
    return ["spans", "context"] if config.relation_features in (None, ["markers"]) else config.relation_features
