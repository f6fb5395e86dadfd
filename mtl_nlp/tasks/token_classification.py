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
        return unread(config, "relation_threshold", "entity_spans", "entity_negative_weight", "entity_markers", "swapped_pairs")

    def special_tokens(self) -> list[str]:
        return []

    def check(self, example: dict) -> str | None:
        if len(example["tokens"]) != len(example["tags"]):
            return f"{len(example['tokens'])} tokens but {len(example['tags'])} tags; give one tag per token"
        return None

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
        """One row per window (one per sentence unless it is longer than ``max_length``), every word labelled at its
        first sub-word; ``window`` numbers a sentence's windows and ``own`` holds ``[start, own_start, own_end]``.
        Windows start at a word, so every word keeps its first sub-word: nothing is lost (``lost`` stays 0). With
        ``case_features``, ``word_case`` holds each sub-word's casing id (its word's)."""
        rows, windows = plan(batch["tokens"], tokenizer, self.config.max_length, self.config.stride)
        pieces = [(row, k, w) for row, ws in enumerate(windows) for k, w in enumerate(ws)]
        encoded = tokenizer([rows[row][w.start : w.end] for row, _, w in pieces], is_split_into_words=True,
                            truncation=True, max_length=self.config.max_length)
        index = {label: i for i, label in enumerate(self.labels)}
        tags = [to_iob2(raw, self.config.tag_scheme) for raw in batch["tags"]]
        encoded["labels"], encoded["window"], encoded["own"] = [], [], []
        if self.config.case_features:
            encoded["word_case"] = window_cases(batch["tokens"], encoded, pieces)
        for i, (row, k, w) in enumerate(pieces):
            word_ids = encoded.word_ids(i)
            first = [v is not None and (j == 0 or word_ids[j - 1] != v) for j, v in enumerate(word_ids)]
            encoded["labels"].append([index[tags[row][w.start + v]] if f else IGNORE_INDEX for v, f in zip(word_ids, first)])
            encoded["window"].append(k)
            encoded["own"].append([w.start, w.own_start, w.own_end])
        encoded["lost"] = [0] * len(pieces)
        return encoded

    def counted(self) -> dict[str, str]:
        return cut_by_max_length(self.config, "word(s)")  # never: windows read every word

    for_training = staticmethod(as_read)

    def collator(self, tokenizer: PreTrainedTokenizerBase):
        collate = DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX)
        return case_collator(collate, tokenizer) if self.config.case_features else collate

    def head(self, hidden_size: int) -> nn.Module:
        return TokenHead(hidden_size, len(self.labels), dropout=self.config.head_dropout, cases=bool(self.config.case_features))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, labels, self.config.label_smoothing)

    def decode(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[tuple[int, int, torch.Tensor]]:
        """Per row, ``(own_start, own_end, log-probabilities of the owned words)``: what ``merge`` joins into a
        sentence's tags. Words are read at their first sub-word (where the label is not ignored)."""
        log_probs = logits.detach().float().log_softmax(-1).cpu()
        keep = (batch["labels"] != IGNORE_INDEX).cpu()
        own = batch["own"].tolist() if "own" in batch else None
        out = []
        for row in range(logits.shape[0]):
            words = log_probs[row][keep[row]]
            start, own_start, own_end = own[row] if own else (0, 0, len(words))
            out.append((own_start, own_end, words[own_start - start : own_end - start]))
        return out

    def merge(self, pieces: list[tuple[int, int, torch.Tensor]]) -> list[str]:
        """A sentence's tags from its windows' pieces."""
        return [self.labels[i] for i in self._best(pieces)[0]]

    def _best(self, pieces: list[tuple[int, int, torch.Tensor]]) -> tuple[list[int], list[float]]:
        """Tag ids of the whole sentence (per-word argmax, or the best valid IOB2 sequence with ``viterbi``, run
        across window seams) and each tag's probability. Windows read every word; a word missing from the pieces
        all the same would be read as certain ``O``, never shift the words after it."""
        words = pieces[-1][1]
        outside = self.labels.index("O") if "O" in self.labels else 0
        scores = torch.full((words, len(self.labels)), float("-inf"))
        scores[:, outside] = 0.0
        for own_start, _, log_probs in pieces:
            scores[own_start : own_start + len(log_probs)] = log_probs
        ids = best_tags(scores, self.labels, self.config.decoding)
        return ids, scores[range(len(ids)), ids].exp().tolist()

    def text_inputs(self, words: list[str], text: str) -> dict[str, list]:
        return {"tokens": [words], "tags": [["O"] * len(words)]}

    def answers(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[dict]:
        """Per sentence (its windows are all in ``batch``): the entities of the tags ``merge`` reads, scored by their
        words' tag probabilities."""
        out = []
        for pieces in in_batch(self, logits, batch):
            ids, probabilities = self._best(pieces)
            out.append({"entities": scored_entities([self.labels[i] for i in ids], probabilities)})
        return out

    def write_answers(self, raw, predictions: list, folder: Path, stem: str) -> Path:
        """Predictions in the benchmark's own answer format (``<stem>.conll.txt``), for its official scorer."""
        return write_conll(raw, predictions, folder / f"{stem}.conll.txt")

    def references(self, batch: dict[str, list]) -> list[list[str]]:
        return [to_iob2(tags, self.config.tag_scheme) for tags in batch["tags"]]
