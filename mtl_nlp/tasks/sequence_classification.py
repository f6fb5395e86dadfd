"""Sequence classification: one label per text or text pair (sentiment, NLI, paraphrase)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from mtl_nlp.answers import write_labels
from mtl_nlp.config import TaskConfig
from mtl_nlp.heads import SequenceHead
from mtl_nlp.tasks.base import (
    argmax_labels,
    as_read,
    cross_entropy,
    cut_by_max_length,
    label_ids,
    only,
    scored_labels,
    unread,
)


class SequenceClassification:
    """A text, or a pair when the task maps a ``text_pair`` column, classified as a whole."""

    hub_task = "text-classification"  # the Hub's task id, for model cards
    required_roles = ("text", "label")
    optional_roles = ("text_pair",)
    label_role = "label"

    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.labels = list(config.labels)

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]:
        """(key, message) for settings this task type cannot work with."""
        return unread(config, "relation_threshold", "case_features", "entity_spans", "entity_negative_weight", "entity_markers", "swapped_pairs")

    def special_tokens(self) -> list[str]:
        return []

    def check(self, example: dict) -> str | None:
        if not isinstance(example["text"], str) or not example["text"].strip():
            return f"text must be a non-empty string, got {example['text']!r}"
        return None

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
        pair = batch.get("text_pair")
        encoded = tokenizer(batch["text"], pair, truncation=True, max_length=self.config.max_length)
        encoded["labels"] = label_ids(self.labels, batch["label"])
        # Texts cut at max_length are kept (their start still carries the label) but counted in the log.
        encoded["lost"] = [int(len(ids) >= self.config.max_length) for ids in encoded["input_ids"]]
        return encoded

    def counted(self) -> dict[str, str]:
        return cut_by_max_length(self.config, "text(s)")

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer)

    def head(self, hidden_size: int) -> nn.Module:
        return SequenceHead(hidden_size, len(self.labels), pooling=self.config.pooling, dropout=self.config.head_dropout)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, labels, self.config.label_smoothing)

    def decode(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[str]:
        return argmax_labels(logits, self.labels)

    merge = staticmethod(only)  # one row per example
    for_training = staticmethod(as_read)

    def text_inputs(self, words: list[str], text: str) -> dict[str, list]:
        return {"text": [text], "label": [self.labels[0]]}

    def answers(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[dict]:
        return scored_labels(logits, self.labels)

    def write_answers(self, raw, predictions: list, folder: Path, stem: str) -> Path:
        """Predictions in the benchmark's own answer format (``<stem>.tsv``), for its official scorer."""
        return write_labels(raw, predictions, folder / f"{stem}.tsv")

    def references(self, batch: dict[str, list]) -> list[str]:
        return [str(v) for v in batch["label"]]
