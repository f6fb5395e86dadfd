"""Token classification (NER): word-level tags, first sub-word labelled, scored at entity level in strict IOB2."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import DataCollatorForTokenClassification, PreTrainedTokenizerBase

from mtl_nlp.answers import write_conll
from mtl_nlp.config import TaskConfig
from mtl_nlp.decoding import best_tags
from mtl_nlp.heads import TokenHead
from mtl_nlp.spans import entity_spans
from mtl_nlp.tasks.base import IGNORE_INDEX, cross_entropy, scored_entities


def to_iob2(tags: list[str], scheme: str) -> list[str]:
    """Rewrite BIOES or IOB1 tags as IOB2 so seqeval's strict IOB2 mode scores every scheme the same way."""
    if scheme in ("iob2", "bio"):
        return list(tags)
    out: list[str] = []
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if scheme == "bioes":
            prefix = {"S": "B", "E": "I"}.get(prefix, prefix)
        elif prefix == "I":  # iob1: I- opens an entity unless it continues one of the same type
            before = out[i - 1] if i else "O"
            prefix = "I" if before != "O" and before.partition("-")[2] == kind else "B"
        out.append(f"{prefix}-{kind}" if kind else tag)
    return out


def labels_as_iob2(labels: list[str], scheme: str) -> list[str]:
    """The label list in IOB2, keeping the user's order and dropping the S-/E- duplicates of BIOES."""
    seen: dict[str, None] = {}
    for label in labels:
        prefix, _, kind = label.partition("-")
        if scheme == "bioes" and prefix in ("S", "E"):
            label = f"{'B' if prefix == 'S' else 'I'}-{kind}"
        seen.setdefault(label, None)
        if scheme == "iob1" and prefix == "I":
            seen.setdefault(f"B-{kind}", None)
    return list(seen)


class TokenClassification:
    """NER and any other per-word tagging task."""

    hub_task = "token-classification"  # the Hub's task id, for model cards
    required_roles = ("tokens", "tags")
    optional_roles: tuple[str, ...] = ()
    label_role = "tags"

    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.labels = labels_as_iob2(config.labels, config.tag_scheme)

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]:
        """(key, message) for settings this task type cannot work with."""
        return []

    def special_tokens(self) -> list[str]:
        return []

    def check(self, example: dict) -> str | None:
        if len(example["tokens"]) != len(example["tags"]):
            return f"{len(example['tokens'])} tokens but {len(example['tags'])} tags; give one tag per token"
        return None

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=self.config.max_length)
        index = {label: i for i, label in enumerate(self.labels)}
        encoded["labels"], encoded["lost"] = [], []
        for row, raw_tags in enumerate(batch["tags"]):
            tags = to_iob2(raw_tags, self.config.tag_scheme)
            word_ids = encoded.word_ids(row)
            first = [w is not None and (j == 0 or word_ids[j - 1] != w) for j, w in enumerate(word_ids)]
            encoded["labels"].append([index[tags[w]] if f else IGNORE_INDEX for w, f in zip(word_ids, first)])
            kept = {w for w in word_ids if w is not None}
            encoded["lost"].append(sum(any(w not in kept for w in range(s, e)) for _, s, e in entity_spans(tags)))
        return encoded

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorForTokenClassification:
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX)

    def head(self, hidden_size: int) -> nn.Module:
        return TokenHead(hidden_size, len(self.labels))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, labels)

    def decode(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[list[str]]:
        """Word-level tags read at each word's first sub-word (where the label is not ignored)."""
        return [[self.labels[i] for i in ids] for ids, _ in self._word_tags(logits, batch)]

    def _word_tags(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[tuple[list[int], list[float]]]:
        """Per row: the tag id of each word (per-word argmax, or the best valid IOB2 sequence with ``viterbi``) and
        that tag's probability."""
        log_probs = logits.float().log_softmax(-1)
        keep = batch["labels"] != IGNORE_INDEX
        out = []
        for row in range(logits.shape[0]):
            words = log_probs[row][keep[row]]
            ids = best_tags(words, self.labels, self.config.decoding)
            out.append((ids, words[range(len(ids)), ids].exp().tolist()))
        return out

    def text_inputs(self, words: list[str], text: str) -> dict[str, list]:
        return {"tokens": [words], "tags": [["O"] * len(words)]}

    def answers(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[dict]:
        """Entities of the tags ``decode`` reads, scored by their words' tag probabilities."""
        return [{"entities": scored_entities([self.labels[i] for i in ids], p)} for ids, p in self._word_tags(logits, batch)]

    def write_answers(self, raw, predictions: list, folder: Path, stem: str) -> Path:
        """Predictions in the benchmark's own answer format (``<stem>.conll.txt``), for its official scorer."""
        return write_conll(raw, predictions, folder / f"{stem}.conll.txt")

    def references(self, batch: dict[str, list]) -> list[list[str]]:
        return [to_iob2(tags, self.config.tag_scheme) for tags in batch["tags"]]
