"""Relation classification between two marked spans of a sentence (SemEval-2010 Task 8 style, typed or not).

Entity markers wrap the head and tail spans: by default new special tokens added to the tokenizer, or with
``entity_markers: punct`` punctuation the encoder already knows (``@ head @`` and ``# tail #``, typed
``@ * type * head @``, as Zhou and Chen's "improved baseline" writes them), which start from pre-trained embeddings
instead of random ones. By default the head reads the hidden states of the two opening markers, head first, so
``works_for(A, B)`` and ``works_for(B, A)`` differ, and ``relation_features`` adds R-BERT's sentence and entity-span
features. Markers are found by the word they were inserted as, so punctuation in the text itself is never mistaken
for one. ``swapped_pairs`` also trains on every pair the other way round, its label's direction reversed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from mtl_nlp.answers import write_relation_answers
from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import RELATION_FEATURES, SpanPairHead
from mtl_nlp.tasks.base import argmax_labels, cross_entropy, cut_by_max_length, label_ids, only, scored_labels, unread
from mtl_nlp.windows import around, budget_of, subword_counts

if TYPE_CHECKING:  # serving never loads datasets (tests/test_predict.py)
    import datasets


def markers(role: str, entity_type: str | None) -> tuple[str, str]:
    """Opening and closing marker for the head (E1) or tail (E2) span, typed when the task lists entity types."""
    suffix = f":{entity_type}" if entity_type else ""
    return f"[{role}{suffix}]", f"[/{role}{suffix}]"


# Punctuation markers per role: the word on both sides of the span and the one on both sides of its type.
PUNCTUATION = {"E1": ("@", "*"), "E2": ("#", "^")}
# A label's direction, as SemEval writes it: Cause-Effect(e1,e2) and Cause-Effect(e2,e1).
DIRECTIONS = ("(e1,e2)", "(e2,e1)")
# Where insert_markers put each marker, named as preprocess's output columns.
SPOTS = ("head_index", "head_end", "tail_index", "tail_end")


def marker_words(role: str, entity_type: str | None, style: str) -> tuple[list[str], list[str]]:
    """Words before and after a span; the first word before it is the one the head reads."""
    if style == "punct":
        bound, around_type = PUNCTUATION[role]
        return [bound, *([around_type, entity_type.lower(), around_type] if entity_type else [])], [bound]
    opening, closing = markers(role, entity_type)
    return [opening], [closing]


def insert_markers(tokens: list[str], head: dict, tail: dict, typed: bool,
                   style: str = "tokens") -> tuple[list[str], dict[str, int]]:
    """The token list with markers around both spans (``end`` exclusive), and the word index of each span's first
    opening and its closing marker (keys of ``SPOTS``)."""
    before: dict[int, list[tuple[str, list[str]]]] = {}
    for name, role, span in (("head", "E1", head), ("tail", "E2", tail)):
        opening, closing = marker_words(role, span.get("type") if typed else None, style)
        before.setdefault(span["end"], []).insert(0, (f"{name}_end", closing))  # closings come before openings
        before.setdefault(span["start"], []).append((f"{name}_index", opening))
    out: list[str] = []
    spots: dict[str, int] = {}
    for i in range(len(tokens) + 1):
        for spot, words in before.get(i, []):
            spots[spot] = len(out)
            out += words
        if i < len(tokens):
            out.append(tokens[i])
    return out, {spot: spots[spot] for spot in SPOTS}


def reversed_label(label: str) -> str:
    """The label of the same pair read the other way round: the direction swapped; a label without one is kept."""
    for this, other in (DIRECTIONS, DIRECTIONS[::-1]):
        if label.endswith(this):
            return label[: -len(this)] + other
    return label


def swapped(row: dict) -> dict:
    """``row``'s pair with head and tail swapped and its label reversed (a ``datasets.map`` function)."""
    return {"head": row["tail"], "tail": row["head"], "label": reversed_label(row["label"])}


def first_subwords(word_ids: list[int | None]) -> dict[int, int]:
    """Each word's first sub-word position in an encoded row (words cut by truncation are absent)."""
    out: dict[int, int] = {}
    for index, word in enumerate(word_ids):
        if word is not None:
            out.setdefault(word, index)
    return out


class RelationClassification:
    """Direction-aware relation between a head and a tail span given as ``{start, end, type}`` token offsets."""

    hub_task = "text-classification"  # the Hub's task id, for model cards
    required_roles = ("tokens", "head", "tail", "label")
    optional_roles = ("id",)  # kept for answer files such as SemEval's "<id>\t<label>"
    label_role = "label"

    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.labels = list(config.labels)
        self.typed = bool(config.entity_types)

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]:
        """(key, message) for settings this task type cannot work with."""
        out = unread(config, "relation_threshold", "case_features", "entity_spans", "entity_negative_weight")
        if config.metric == "relation_f1" and not config.negative_label:
            out.append(("negative_label", "relation_f1 excludes the negative class: name it, e.g. negative_label: no_relation"))
        if config.swapped_pairs and all(isinstance(x, str) for x in config.labels):
            out += _swap_problems(config.labels)
        features = _features(config)
        if not isinstance(features, list) or not features or not set(features) <= set(RELATION_FEATURES) or len(set(features)) != len(features):
            out.append(("relation_features", f"must list some of {', '.join(RELATION_FEATURES)} once each, got {features!r}"))
        return out

    def special_tokens(self) -> list[str]:
        if self.config.entity_markers == "punct":
            return []
        types = self.config.entity_types or [None]
        return [m for t in types for role in ("E1", "E2") for m in markers(role, t)]

    def check(self, example: dict) -> str | None:
        tokens = example["tokens"]
        for role in ("head", "tail"):
            span = example[role]
            if not isinstance(span, dict) or not {"start", "end"} <= set(span):
                return f"{role} must be an object with 'start' and 'end' token offsets (end exclusive), got {span!r}"
            if not 0 <= span["start"] < span["end"] <= len(tokens):
                return f"{role} span [{span['start']}, {span['end']}) is outside the {len(tokens)} tokens"
            if self.typed and span.get("type") not in self.config.entity_types:
                return f"{role} type {span.get('type')!r} is not in the task's entity_types {self.config.entity_types}"
        head, tail = example["head"], example["tail"]
        if head["start"] < tail["end"] and tail["start"] < head["end"]:
            return "head and tail spans overlap; mark two separate spans"
        return None

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
        style = self.config.entity_markers or "tokens"
        marked = [insert_markers(t, h, x, self.typed, style) for t, h, x in zip(batch["tokens"], batch["head"], batch["tail"])]
        words, spots = self._around_pairs(marked, tokenizer)
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.config.max_length)
        for key in (*SPOTS, "lost"):
            encoded[key] = []
        for row, (ids, where) in enumerate(zip(encoded["input_ids"], spots)):
            first = first_subwords(encoded.word_ids(row))
            found = {spot: first.get(word) for spot, word in where.items()}
            # A marker cut by max_length leaves the head reading [CLS]: kept so scores stay honest, and counted.
            encoded["lost"].append(int(None in (found["head_index"], found["tail_index"])))
            for key, value in found.items():
                encoded[key].append(value if value is not None else (0 if key.endswith("index") else len(ids)))
        encoded["labels"] = label_ids(self.labels, batch["label"])
        return encoded

    def _around_pairs(self, marked: list[tuple[list[str], dict[str, int]]],
                      tokenizer: PreTrainedTokenizerBase) -> tuple[list[list[str]], list[dict[str, int]]]:
        """Marked sentences longer than ``max_length`` cut to a window around their pair, with context on both
        sides, and the markers' word indices in the window; a pair that does not fit even alone is left to
        truncation, which ``preprocess`` counts."""
        budget = budget_of(tokenizer, self.config.max_length)
        rows, spots = [m[0] for m in marked], [m[1] for m in marked]
        for i, counts in enumerate(subword_counts(rows, tokenizer)):
            if sum(counts) > budget:
                start, end = around(counts, min(spots[i].values()), max(spots[i].values()), budget)
                rows[i] = rows[i][start:end]
                spots[i] = {spot: word - start for spot, word in spots[i].items()}
        return rows, spots

    def for_training(self, ds: datasets.Dataset) -> datasets.Dataset:
        """With ``swapped_pairs``, every pair twice: as read, then head and tail swapped with the label reversed, so
        the head learns what the direction of a relation looks like from both sides."""
        if not self.config.swapped_pairs:
            return ds
        import datasets

        return datasets.concatenate_datasets([ds, ds.map(swapped, desc=f"{self.config.name}: swapped pairs")])

    def counted(self) -> dict[str, str]:
        return cut_by_max_length(self.config, "example(s) with an entity marker")

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer)

    def head(self, hidden_size: int) -> nn.Module:
        return SpanPairHead(hidden_size, len(self.labels), dropout=self.config.head_dropout,
                            features=tuple(_features(self.config)), pooling=self.config.pooling)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, labels, self.config.label_smoothing)

    def decode(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[str]:
        return argmax_labels(logits, self.labels)

    merge = staticmethod(only)  # one row per example

    def text_inputs(self, words: list[str], text: str) -> None:
        return None  # the task classifies a pair of entities: see pair_inputs

    def pair_inputs(self, words: list[str], head: dict, tail: dict) -> dict[str, list] | None:
        """Input columns for one ordered pair of spans, or None when the task has no markers for their types."""
        if self.typed and not {head.get("type"), tail.get("type")} <= set(self.config.entity_types):
            return None
        return {"tokens": [words], "head": [head], "tail": [tail], "label": [self.labels[0]]}

    def answers(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[dict]:
        return scored_labels(logits, self.labels)

    def write_answers(self, raw, predictions: list, folder: Path, stem: str) -> Path:
        """Predictions in the benchmark's own answer format (``<stem>.answers.txt``), for its official scorer."""
        return write_relation_answers(raw, predictions, folder / f"{stem}.answers.txt")

    def references(self, batch: dict[str, list]) -> list[str]:
        return [str(v) for v in batch["label"]]


def _swap_problems(labels: list[str]) -> list[tuple[str, str]]:
    """A label set ``swapped_pairs`` cannot reverse: no label names its direction (a plain ``works_for`` would keep
    its name for the reversed pair), or a direction's counterpart is missing."""
    if not any(label.endswith(DIRECTIONS) for label in labels):
        return [("swapped_pairs", f"needs labels that name their direction as {DIRECTIONS[0]} / {DIRECTIONS[1]}, as "
                                  f"SemEval's do; none of {labels} does, so a swapped pair would keep a label whose "
                                  "direction it reverses. Remove swapped_pairs")]
    missing = sorted({reversed_label(x) for x in labels} - set(labels))
    if missing:
        return [("swapped_pairs", f"a swapped pair would take a label the task does not list: {missing}; add them to "
                                  "labels or remove swapped_pairs")]
    return []


def _features(config: TaskConfig) -> list[str]:
    return ["markers"] if config.relation_features is None else config.relation_features
