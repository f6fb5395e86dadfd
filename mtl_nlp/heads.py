"""Small task heads. Each reads the shared encoder's hidden states plus the task's own batch fields."""

from __future__ import annotations

import torch
from torch import nn


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
