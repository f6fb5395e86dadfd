"""Relation classification between two marked spans of a sentence (SemEval-2010 Task 8 style, typed or not).

Entity markers are added to the tokenizer as special tokens and wrap the head and tail spans; by default the head reads
the hidden states of the two opening markers, head first, so ``works_for(A, B)`` and ``works_for(B, A)`` differ, and
``relation_features`` adds R-BERT's sentence and entity-span features.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from mtl_nlp.answers import write_relation_answers
from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import RELATION_FEATURES, SpanPairHead
from mtl_nlp.tasks.base import argmax_labels, cross_entropy, cut_by_max_length, label_ids, only, scored_labels, unread
from mtl_nlp.windows import around, budget_of, subword_counts


def markers(role: str, entity_type: str | None) -> tuple[str, str]:
    """Opening and closing marker for the head (E1) or tail (E2) span, typed when the task lists entity types."""
    suffix = f":{entity_type}" if entity_type else ""
    return f"[{role}{suffix}]", f"[/{role}{suffix}]"


def insert_markers(tokens: list[str], head: dict, tail: dict, typed: bool) -> list[str]:
    """The token list with markers around both spans (``end`` exclusive)."""
    open_h, close_h = markers("E1", head.get("type") if typed else None)
    open_t, close_t = markers("E2", tail.get("type") if typed else None)
    before: dict[int, list[str]] = {}
    for position, marker in ((head["end"], close_h), (tail["end"], close_t), (head["start"], open_h), (tail["start"], open_t)):
        before.setdefault(position, []).append(marker)
    out: list[str] = []
    for i in range(len(tokens) + 1):
        out += before.get(i, [])
        if i < len(tokens):
            out.append(tokens[i])
    return out


def position(ids: list[int], tokenizer: PreTrainedTokenizerBase, marker: str) -> int | None:
    """Where ``marker`` sits in ``ids``, or None when max_length cut it off."""
    marker_id = tokenizer.convert_tokens_to_ids(marker)
    return ids.index(marker_id) if marker_id in ids else None


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
        features = _features(config)
        if not isinstance(features, list) or not features or not set(features) <= set(RELATION_FEATURES) or len(set(features)) != len(features):
            out.append(("relation_features", f"must list some of {', '.join(RELATION_FEATURES)} once each, got {features!r}"))
        return out

    def special_tokens(self) -> list[str]:
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
        words = [insert_markers(t, h, x, self.typed) for t, h, x in zip(batch["tokens"], batch["head"], batch["tail"])]
        words = self._around_pairs(words, tokenizer)
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.config.max_length)
        for key in ("head_index", "head_end", "tail_index", "tail_end", "lost"):
            encoded[key] = []
        for ids, head, tail in zip(encoded["input_ids"], batch["head"], batch["tail"]):
            found = {}
            for role, name, span in (("E1", "head", head), ("E2", "tail", tail)):
                opening, closing = markers(role, span.get("type") if self.typed else None)
                found[f"{name}_index"], found[f"{name}_end"] = position(ids, tokenizer, opening), position(ids, tokenizer, closing)
            # A marker cut by max_length leaves the head reading [CLS]: kept so scores stay honest, and counted.
            encoded["lost"].append(int(None in (found["head_index"], found["tail_index"])))
            for key, value in found.items():
                encoded[key].append(value if value is not None else (0 if key.endswith("index") else len(ids)))
        encoded["labels"] = label_ids(self.labels, batch["label"])
        return encoded

    def _around_pairs(self, rows: list[list[str]], tokenizer: PreTrainedTokenizerBase) -> list[list[str]]:
        """Marked sentences longer than ``max_length`` cut to a window around their pair, with context on both
        sides; a pair that does not fit even alone is left to truncation, which ``preprocess`` counts."""
        budget, marks = budget_of(tokenizer, self.config.max_length), set(self.special_tokens())
        out = []
        for words, counts in zip(rows, subword_counts(rows, tokenizer)):
            if sum(counts) > budget:
                inside = [i for i, w in enumerate(words) if w in marks]
                start, end = around(counts, inside[0], inside[-1], budget)
                words = words[start:end]
            out.append(words)
        return out

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


def _features(config: TaskConfig) -> list[str]:
    return ["markers"] if config.relation_features is None else config.relation_features
