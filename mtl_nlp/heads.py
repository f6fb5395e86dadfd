"""Small task heads. Each reads the shared encoder's hidden states plus the task's own batch fields."""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.casing import CASE_IDS
from mtl_nlp.decoding import best_tags, span_tags
from mtl_nlp.pooling import span_max
from mtl_nlp.spans import entity_spans, subword_span

CASE_SIZE = 16  # width of the casing embedding a tagger reads beside each state (task key ``case_features``)


def case_embedding(cases: bool) -> nn.Embedding | None:
    return nn.Embedding(CASE_IDS, CASE_SIZE) if cases else None


def with_cases(states: torch.Tensor, cases: nn.Embedding | None, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """``states`` [batch, seq, hidden] with each sub-word's casing embedding appended (``inputs["word_case"]``)."""
    if cases is None:
        return states
    return torch.cat([states, cases(inputs["word_case"]).to(states.dtype)], dim=-1)


class TokenHead(nn.Module):
    """One label per sub-word; the loss and decoding look only at first sub-words. With ``cases`` the classifier
    also reads each word's casing (``mtl_nlp.casing``)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, cases: bool = False) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.cases = case_embedding(cases)
        self.classifier = nn.Linear(hidden_size + CASE_SIZE * cases, num_labels)

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(with_cases(self.dropout(hidden), self.cases, inputs))


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


RELATION_FEATURES = ("markers", "sentence", "spans")


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the states where ``mask`` [batch, seq] is true (zeros where a row has none)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class SpanPairHead(nn.Module):
    """Relation between two marked spans from the features the task YAML names (``relation_features``).

    ``markers``: the states of the two opening markers, head first, so the order carries the direction (Matching the
    Blanks' entity-start). ``sentence``: the pooled text (R-BERT's [CLS], or the mean for sentence-transformers).
    ``spans``: the mean of each entity's own sub-words between its markers (R-BERT). Each feature goes through its own
    tanh projection, as in R-BERT, before one classifier reads them together.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1,
                 features: tuple[str, ...] = ("markers",), pooling: str = "mean") -> None:
        super().__init__()
        self.features, self.pooling = tuple(features), pooling
        self.dropout = nn.Dropout(dropout)
        widths = {"markers": 2 * hidden_size, "sentence": hidden_size, "spans": 2 * hidden_size}
        if self.features == ("markers",):  # the original head: its weights keep their names in saved models
            self.dense = nn.Linear(2 * hidden_size, hidden_size)
        else:
            self.projections = nn.ModuleDict({f: nn.Linear(widths[f], hidden_size) for f in self.features})
        self.classifier = nn.Linear(hidden_size * (1 if self.features == ("markers",) else len(self.features)), num_labels)

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        values = {f: self._feature(f, hidden, inputs) for f in self.features}
        if self.features == ("markers",):
            return self.classifier(self.dropout(torch.tanh(self.dense(self.dropout(values["markers"])))))
        parts = [torch.tanh(self.projections[f](self.dropout(values[f]))) for f in self.features]
        return self.classifier(self.dropout(torch.cat(parts, dim=-1)))

    def _feature(self, name: str, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        if name == "markers":
            return torch.cat([hidden[rows, inputs["head_index"]], hidden[rows, inputs["tail_index"]]], dim=-1)
        if name == "sentence":
            return hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, inputs["attention_mask"].bool())
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        inside = [(positions > inputs[f"{r}_index"][:, None]) & (positions < inputs[f"{r}_end"][:, None]) for r in ("head", "tail")]
        return torch.cat([masked_mean(hidden, m) for m in inside], dim=-1)


def word_tags(token_logits: torch.Tensor, word_starts: list[int], tags: list[str], decoding: str = "argmax") -> list[tuple[str, float]]:
    """(tag, probability) per word, read at each word's first sub-word of one row's ``token_logits`` [seq, tags].

    ``word_starts`` holds -1 for words cut by max_length (read as 'O', probability 1) and -2 for batch padding (dropped).
    """
    kept = [s for s in word_starts if s != -2]
    log_probs = token_logits[[s for s in kept if s >= 0]].float().log_softmax(-1)
    ids = best_tags(log_probs, tags, decoding)
    read = iter(zip(ids, log_probs[range(len(ids)), ids].exp().tolist()))
    return [(tags[i], p) for i, p in (next(read) if s >= 0 else (tags.index("O"), 1.0) for s in kept)]


def pair_states(hidden: torch.Tensor, spans: torch.Tensor, pool=span_max, context: bool = True) -> torch.Tensor:
    """[batch, pairs, 3*hidden]: max-pool of head span, tail span, and the gap between them (zeros if none); without
    ``context``, [batch, pairs, 2*hidden] (the gap is not pooled).

    ``spans`` is [batch, pairs, 4] (head start, head end, tail start, tail end). The span kinds go to ``pool`` in one
    call, so span_max builds its table of window maxima once per batch.
    """
    head_start, head_end, tail_start, tail_end = spans.unbind(-1)
    starts, ends = [head_start, tail_start], [head_end, tail_end]
    if context:
        starts.append(torch.minimum(head_end, tail_end))
        ends.append(torch.maximum(head_start, tail_start))
    batch, pairs = spans.shape[:2]
    kinds = len(starts)
    pooled = pool(hidden, torch.cat(starts, dim=1), torch.cat(ends, dim=1))
    return pooled.view(batch, kinds, pairs, -1).transpose(1, 2).reshape(batch, pairs, -1)


PAIR_FEATURES = ("spans", "context", "width", "sentence")
WIDTHS, WIDTH_SIZE = 32, 25  # span widths in sub-words (longer ones share the last bucket); SpERT's 25-wide embedding


def pair_width_features(spans: torch.Tensor, widths: nn.Embedding) -> torch.Tensor:
    """[batch, pairs, 2 * embedding]: the learned embeddings of the head's and the tail's width in sub-words."""
    head = (spans[..., 1] - spans[..., 0]).clamp(0, widths.num_embeddings - 1)
    tail = (spans[..., 3] - spans[..., 2]).clamp(0, widths.num_embeddings - 1)
    return torch.cat([widths(head), widths(tail)], dim=-1)


SPAN_SIZE = 150  # the span classifier's hidden layer (PURE's)


class SpanClassifier(nn.Module):
    """A type or none (label 0) for each candidate span, from its first and last sub-words' states, an embedding of its
    width and [CLS], through a two-layer network (PURE, Zhong & Chen 2021; SpERT also reads width and [CLS]).

    The first layer over the concatenation is computed as the sum of each part's projection, taken per position
    before the spans are gathered, so a sentence's hundreds of candidates never build a [spans, 3 x hidden] tensor.
    """

    def __init__(self, state_size: int, hidden_size: int, num_types: int, dropout: float) -> None:
        super().__init__()
        self.first = nn.Linear(state_size, SPAN_SIZE)
        self.last = nn.Linear(state_size, SPAN_SIZE, bias=False)
        self.sentence = nn.Linear(hidden_size, SPAN_SIZE, bias=False)
        self.widths = nn.Embedding(WIDTHS, SPAN_SIZE)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(SPAN_SIZE, num_types + 1)

    def forward(self, states: torch.Tensor, hidden: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """[batch, candidates, types + 1] for ``candidates`` [batch, candidates, 2+] (sub-word start, end, ...)."""
        start, end = candidates[..., 0], candidates[..., 1]
        rows = torch.arange(states.shape[0], device=states.device)[:, None]
        layer = (self.first(states)[rows, start] + self.last(states)[rows, (end - 1).clamp(min=0)]
                 + self.widths((end - start).clamp(0, WIDTHS - 1)).to(states.dtype) + self.sentence(hidden[:, 0])[:, None])
        return self.out(self.dropout(nn.functional.gelu(layer)))


class EntityPairHead(nn.Module):
    """Entities plus a relation label per ordered entity pair.

    Entities come from tags per sub-word or, with ``span_words``, from a span classifier (:class:`SpanClassifier`):
    every span of up to that many words (``entity_candidates``, listed once by the task's preprocess) is labelled with a type
    or none. With ``cases`` either also reads each word's casing.
    A pair reads the features the task names (``relation_features``, SpERT's): ``spans``, the max-pooled states of its
    head and tail spans; ``context``, those of the words between them; ``width``, an embedding of each span's width;
    ``sentence``, the [CLS] state. In training the pairs are the gold entities' (``pair_spans``); in eval mode they are
    built from the entities this head predicts, so the relation scores include entity errors.
    """

    def __init__(self, hidden_size: int, num_tags: int, num_relations: int, tags: list[str], dropout: float = 0.1,
                 decoding: str = "argmax", features: tuple[str, ...] = ("spans", "context"), cases: bool = False,
                 span_words: int | None = None) -> None:
        super().__init__()
        self.tags, self.decoding, self.features = tags, decoding, features
        self.types = [tag[2:] for tag in tags if tag.startswith("B-")]
        self.dropout = nn.Dropout(dropout)
        self.cases = case_embedding(cases)
        state_size = hidden_size + CASE_SIZE * cases
        if span_words:
            self.entity_classifier = SpanClassifier(state_size, hidden_size, len(self.types), dropout)
        else:
            self.tagger = nn.Linear(state_size, num_tags)
        self.span_words = span_words
        self.widths = nn.Embedding(WIDTHS, WIDTH_SIZE) if "width" in features else None
        size = hidden_size * (3 if "context" in features else 2) + hidden_size * ("sentence" in features)
        self.dense = nn.Linear(size + 2 * WIDTH_SIZE * ("width" in features), hidden_size)
        self.classifier = nn.Linear(hidden_size, num_relations)
        self.pool = span_max  # (hidden, start, end) -> span maxima; a plain attribute so a benchmark can swap it

    def forward(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> tuple:
        entity_logits = self._entity_logits(hidden, inputs)
        if self.training:
            return entity_logits, self._classify(hidden, inputs["pair_spans"]), None, None
        words = self._read_words(entity_logits, inputs)
        spans, pairs = self._predicted_pairs(words, inputs["word_starts"], inputs["attention_mask"])
        return entity_logits, self._found_pair_logits(hidden, spans, pairs), pairs, words

    def _entity_logits(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """[batch, seq, tags] for the tagger; [batch, candidates, types + 1] for the span classifier."""
        states = with_cases(self.dropout(hidden), self.cases, inputs)
        if not self.span_words:
            return self.tagger(states)
        return self.entity_classifier(states, hidden, inputs["entity_candidates"])

    def _read_words(self, entity_logits: torch.Tensor, inputs: dict[str, torch.Tensor]) -> list[list[tuple[str, float]]]:
        """Each row's (tag, probability) per word, which decoding reuses rather than reading the entities again."""
        starts = inputs["word_starts"].tolist()
        if not self.span_words:
            return [word_tags(entity_logits[row], kept, self.tags, self.decoding) for row, kept in enumerate(starts)]
        probabilities = entity_logits.float().softmax(-1)
        best, kind = probabilities[..., 1:].max(-1)
        candidates = inputs["entity_candidates"]
        words = candidates[..., 3] - candidates[..., 2]
        outside = [[1.0] * sum(s != -2 for s in row) for row in starts]  # words cut by max_length: O, probability 1
        rows, index = (words == 1).nonzero().unbind(-1)
        for row, word, p in zip(rows.tolist(), candidates[rows, index, 2].tolist(), probabilities[rows, index, 0].tolist()):
            outside[row][word] = p
        found: list[list] = [[] for _ in starts]
        rows, index = ((best > probabilities[..., 0]) & (words > 0)).nonzero().unbind(-1)
        for row, p, (start, end), k in zip(rows.tolist(), best[rows, index].tolist(),
                                           candidates[rows, index, 2:].tolist(), kind[rows, index].tolist()):
            found[row].append((p, start, end, self.types[k]))
        return [span_tags(out, spans) for out, spans in zip(outside, found)]

    def _classify(self, hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.tanh(self.dense(self._pair_features(hidden, spans)))))

    def _found_pair_logits(self, hidden: torch.Tensor, spans: torch.Tensor, pairs: list) -> torch.Tensor:
        """[batch, pairs, relations], pooled and classified only in the rows that found two entities or more (zeros
        in the others, which decoding never reads): in served text most rows hold no pair, and the span table of a
        whole batch would cost memory for nothing."""
        rows = torch.tensor([row for row, found in enumerate(pairs) if found], dtype=torch.long, device=hidden.device)
        if not len(rows):
            return hidden.new_zeros(*spans.shape[:2], self.classifier.out_features)
        found = self._classify(hidden[rows], spans[rows])
        return found.new_zeros(*spans.shape[:2], found.shape[-1]).index_copy(0, rows, found)

    def _pair_features(self, hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        parts = [pair_states(hidden, spans, self.pool, context="context" in self.features)]
        if self.widths is not None:
            parts.append(pair_width_features(spans, self.widths))
        if "sentence" in self.features:
            parts.append(hidden[:, :1].expand(-1, spans.shape[1], -1))
        return torch.cat(parts, dim=-1)

    def _predicted_pairs(self, words: list, word_starts: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Sub-word spans of every ordered pair of the entities in ``words`` (each row's read), and the pairs
        (entity indices)."""
        spans, pairs = [], []
        lengths = attention_mask.sum(-1).tolist()
        for row, (starts, read) in enumerate(zip(word_starts.tolist(), words)):
            kept = [s for s in starts if s != -2]
            ents = entity_spans([tag for tag, _ in read])
            sub = [subword_span(kept, s, e, lengths[row]) for _, s, e in ents]
            index = [(h, t) for h in range(len(ents)) for t in range(len(ents)) if h != t]
            spans.append([[*sub[h], *sub[t]] for h, t in index])
            pairs.append(index)
        width = max(1, max(len(s) for s in spans))
        padded = [s + [[0, 1, 0, 1]] * (width - len(s)) for s in spans]
        return torch.tensor(padded, device=word_starts.device), pairs
