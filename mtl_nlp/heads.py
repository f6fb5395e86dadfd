"""Small task heads. Each reads the shared encoder's hidden states plus the task's own batch fields."""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.pooling import span_max
from mtl_nlp.spans import entity_spans, subword_span


class TokenHead(nn.Module):
    """One label per sub-word; the loss and decoding look only at first sub-words."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.dropout(hidden))


class SequenceHead(nn.Module):
    """One label per text (or text pair), from the mean of the token states or the first ([CLS]) state.

    Mean pooling is the default because sentence-transformers encoders such as all-MiniLM-L6-v2 were trained with it.
    """

    def __init__(self, hidden_size: int, num_labels: int, pooling: str = "mean", dropout: float = 0.1) -> None:
        super().__init__()
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.classifier(self.dropout(pooled))


class SpanPairHead(nn.Module):
    """Relation between two marked spans, read from the hidden states of their opening markers.

    The order of the two states carries the direction: head entity first, tail entity second.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        pair = torch.cat([hidden[rows, inputs["head_index"]], hidden[rows, inputs["tail_index"]]], dim=-1)
        return self.classifier(self.dropout(torch.tanh(self.dense(self.dropout(pair)))))


def predicted_entities(tag_ids: list[int], word_starts: list[int], tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities (type, start, end) in word offsets from the tag predicted at each word's first sub-word.

    ``word_starts`` holds -1 for words cut by max_length (read as 'O') and -2 for batch padding (dropped).
    """
    word_tags = [tags[tag_ids[s]] if s >= 0 else "O" for s in word_starts if s != -2]
    return entity_spans(word_tags)


def pair_states(hidden: torch.Tensor, spans: torch.Tensor, pool=span_max) -> torch.Tensor:
    """[batch, pairs, 3*hidden]: max-pool of head span, tail span, and the gap between them (zeros if none).

    ``spans`` is [batch, pairs, 4] (head start, head end, tail start, tail end). The three span kinds go to ``pool`` in
    one call, so span_max builds its table of window maxima once per batch.
    """
    head_start, head_end, tail_start, tail_end = spans.unbind(-1)
    starts = torch.cat([head_start, tail_start, torch.minimum(head_end, tail_end)], dim=1)
    ends = torch.cat([head_end, tail_end, torch.maximum(head_start, tail_start)], dim=1)
    batch, pairs = spans.shape[:2]
    return pool(hidden, starts, ends).view(batch, 3, pairs, -1).transpose(1, 2).reshape(batch, pairs, -1)


class EntityPairHead(nn.Module):
    """Entity tags per sub-word plus a relation label per ordered entity pair.

    A pair reads the max-pooled states of its head span, its tail span and the words between them (SpERT's
    context). In training the pairs are the gold entities' (``pair_spans``); in eval mode they are built from the
    entities this head predicts, so the relation scores include entity errors.
    """

    def __init__(self, hidden_size: int, num_tags: int, num_relations: int, tags: list[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.tags = tags
        self.dropout = nn.Dropout(dropout)
        self.tagger = nn.Linear(hidden_size, num_tags)
        self.dense = nn.Linear(3 * hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_relations)
        self.pool = span_max  # (hidden, start, end) -> span maxima; a plain attribute so a benchmark can swap it

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> tuple:
        token_logits = self.tagger(self.dropout(hidden))
        if self.training:
            spans, pairs = inputs["pair_spans"], None
        else:
            spans, pairs = self._predicted_pairs(token_logits, inputs["word_starts"], inputs["attention_mask"])
        pair_logits = self.classifier(self.dropout(torch.tanh(self.dense(pair_states(hidden, spans, self.pool)))))
        return token_logits, pair_logits, pairs

    def _predicted_pairs(self, token_logits, word_starts, attention_mask) -> tuple[torch.Tensor, list]:
        spans, pairs = [], []
        lengths = attention_mask.sum(-1).tolist()
        for row, starts in enumerate(word_starts.tolist()):
            kept = [s for s in starts if s != -2]
            ents = predicted_entities(token_logits[row].argmax(-1).tolist(), kept, self.tags)
            sub = [subword_span(kept, s, e, lengths[row]) for _, s, e in ents]
            index = [(h, t) for h in range(len(ents)) for t in range(len(ents)) if h != t]
            spans.append([[*sub[h], *sub[t]] for h, t in index])
            pairs.append(index)
        width = max(1, max(len(s) for s in spans))
        padded = [s + [[0, 1, 0, 1]] * (width - len(s)) for s in spans]
        return torch.tensor(padded, device=token_logits.device), pairs
