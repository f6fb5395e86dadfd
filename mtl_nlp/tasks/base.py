"""The Task protocol every task type implements, and the few pure helpers they share (functions, not a base class)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from mtl_nlp.casing import sentence_cases, subword_cases
from mtl_nlp.config import TaskConfig
from mtl_nlp.spans import entity_spans
from mtl_nlp.windows import group, numbers

IGNORE_INDEX = -100


class Task(Protocol):
    """What the data pipeline, the model and the trainer need from a task type.

    ``roles`` are the canonical column names the reader must produce (``required`` first, then ``optional``).
    ``preprocess`` is a batched ``datasets.map`` function; it also returns the count columns ``counted`` names
    (``lost`` at least: gold units ``max_length`` cut off), so nothing is dropped without a count in the log.
    """

    config: TaskConfig
    hub_task: str
    required_roles: tuple[str, ...]
    optional_roles: tuple[str, ...]
    label_role: str

    @staticmethod
    def config_problems(config: TaskConfig) -> list[tuple[str, str]]: ...

    def special_tokens(self) -> list[str]: ...

    def check(self, example: dict) -> str | None: ...

    def preprocess(self, batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]: ...

    def for_training(self, ds: Any) -> Any:
        """The train split as the task trains on it (a ``datasets.Dataset``; ``as_read`` for most tasks)."""

    def counted(self) -> dict[str, str]:
        """Each count column ``preprocess`` returns, with the warning its total over a split gets (``{n}`` in it)."""

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any: ...

    def head(self, hidden_size: int) -> nn.Module: ...

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...

    def decode(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list:
        """One piece per row; a row is one window of an example (``batch["window"]`` numbers them, 0 first)."""

    def merge(self, pieces: list) -> Any:
        """One example's prediction from the pieces of its windows, in order (tasks without windows: ``only``)."""

    def references(self, batch: dict[str, list]) -> list: ...

    def write_answers(self, raw: Any, predictions: list, folder: Path, stem: str) -> Path:
        """Write predictions in the benchmark's answer format under ``folder`` and return the file."""

    def text_inputs(self, words: list[str], text: str) -> dict[str, list] | None:
        """Input columns (placeholder labels) for one raw text, or None when the task reads entity pairs instead;
        such a task also has ``pair_inputs(words, head, tail)``, the columns for one ordered pair of spans."""

    def answers(self, logits: Any, batch: dict[str, torch.Tensor]) -> list[dict]:
        """JSON-ready answers per example (``batch`` holds all of its windows), with scores; entities in word
        offsets ``[start, end)``."""


def unread(config: TaskConfig, *keys: str) -> list[tuple[str, str]]:
    """Settings given that this task type never reads: a problem to fix, not a value silently ignored."""
    return [(key, f"task type {config.type!r} does not read {key}; remove it") for key in keys if getattr(config, key) is not None]


def cut_by_max_length(config: TaskConfig, units: str) -> dict[str, str]:
    """The ``lost`` entry of a task's ``counted``: ``units`` that ``max_length`` cut off."""
    return {"lost": f"{{n}} {units} cut by max_length={config.max_length}; raise the task's max_length to keep them"}


def as_read(ds: Any) -> Any:
    """The ``for_training`` of a task that trains on its examples as read."""
    return ds


def only(pieces: list) -> Any:
    """The merge of a task whose examples are never split into windows."""
    (piece,) = pieces
    return piece


def in_batch(task: Task, logits: Any, batch: dict) -> list[list]:
    """The decoded pieces of each example of ``batch``, which holds all of its windows (serving, tests)."""
    pieces = task.decode(logits, batch)
    return group(list(zip(numbers(batch, len(pieces)), pieces)))


def decoded(task: Task, logits: Any, batch: dict) -> list:
    """One prediction per example of ``batch``: its windows' pieces decoded and merged."""
    return [task.merge(pieces) for pieces in in_batch(task, logits, batch)]


def window_cases(sentences: list[list[str]], encoded: Any, pieces: list[tuple[int, int, Any]]) -> list[list[int]]:
    """``word_case`` for tagging rows (``case_features``): per row (a window ``(sentence, k, window)`` of ``pieces``),
    each sub-word's casing id, computed over the whole sentence so a window's first word is not taken for its first."""
    cases = [sentence_cases(words) for words in sentences]
    return [subword_cases(encoded.word_ids(i), cases[row], window.start) for i, (row, _, window) in enumerate(pieces)]


def case_collator(collate: Any, tokenizer: PreTrainedTokenizerBase) -> Any:
    """``collate`` for rows that carry ``word_case``: the other fields are collated as before and the casing ids
    padded with 0 on the tokenizer's padding side, so they line up with the sub-words."""

    def collate_cases(rows: list[dict]) -> dict:
        batch = collate([{k: v for k, v in row.items() if k != "word_case"} for row in rows])
        width, left = batch["input_ids"].shape[1], tokenizer.padding_side == "left"
        pads = [[0] * (width - len(row["word_case"])) for row in rows]
        padded = [pad + row["word_case"] if left else row["word_case"] + pad for pad, row in zip(pads, rows)]
        batch["word_case"] = torch.tensor(padded, dtype=torch.long)
        return batch

    return collate_cases


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over every position whose label is not IGNORE_INDEX (token or sequence level alike), with
    ``smoothing`` of each gold label's probability spread over all labels; ``weights`` per label weigh each position
    by its gold label (the mean is then over the weights)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), weight=weights,
                                       ignore_index=IGNORE_INDEX, label_smoothing=smoothing)


def label_ids(labels: list[str], values: list) -> list[int]:
    """Map label strings to ids; the data checks have already proved every value is known."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[str(v)] for v in values]


def argmax_labels(logits: torch.Tensor, labels: list[str]) -> list[str]:
    return [labels[i] for i in logits.argmax(-1).tolist()]


def scored_entities(tags: list[str], probabilities: list[float]) -> list[dict]:
    """Entities of an IOB2 tag sequence, each scored by the mean probability of its words' predicted tags."""
    return [
        {"type": kind, "start": start, "end": end, "score": round(sum(probabilities[start:end]) / (end - start), 4)}
        for kind, start, end in entity_spans(tags)
    ]


def scored_labels(logits: torch.Tensor, labels: list[str]) -> list[dict]:
    """The best label of each row with its softmax probability."""
    best = logits.float().softmax(-1).max(-1)
    return [{"label": labels[i], "score": round(p, 4)} for p, i in zip(best.values.tolist(), best.indices.tolist())]
