"""Prediction files in each benchmark's own answer format, so official scorers can check our figures. Each task type
says which one it writes (``Task.write_answers``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # serving imports this module; datasets is only a type here
    import datasets


def write_conll(raw: datasets.Dataset, predictions: list, path: Path) -> Path:
    """``token gold predicted`` per line, a blank line between sentences (what conlleval reads)."""
    blocks = ["\n".join(f"{t} {g} {p}" for t, g, p in zip(row["tokens"], gold, pred)) for row, gold, pred in zip(raw, _gold_tags(raw), predictions)]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def _gold_tags(raw: datasets.Dataset) -> list[list[str]]:
    return [list(tags) for tags in raw["tags"]]


def write_relation_answers(raw: datasets.Dataset, predictions: list, path: Path) -> Path:
    """``<id>\\t<label>`` per line, the SemEval-2010 Task 8 answer format (row numbers when the data has no ids)."""
    ids = raw["id"] if "id" in raw.column_names else [str(i + 1) for i in range(len(raw))]
    path.write_text("".join(f"{i}\t{p}\n" for i, p in zip(ids, predictions)), encoding="utf-8")
    return path


def write_labels(raw: datasets.Dataset, predictions: list, path: Path) -> Path:
    """``gold<TAB>predicted<TAB>text`` per line."""
    path.write_text("".join(f"{g}\t{p}\t{t}\n" for g, p, t in zip(raw["label"], predictions, raw["text"])), encoding="utf-8")
    return path


def write_spert(raw: datasets.Dataset, predictions: list, path: Path) -> Path:
    """SpERT JSON: tokens, predicted entities and relations (head/tail index the entity list)."""
    out = []
    for row, prediction in zip(raw, predictions):
        found = json.loads(prediction)
        entities = [{"type": k, "start": s, "end": e} for s, e, k in found["entities"]]
        index = {(s, e, k): i for i, (s, e, k) in enumerate(found["entities"])}
        relations = [{"type": r[6], "head": index[tuple(r[0:3])], "tail": index[tuple(r[3:6])]} for r in found["relations"]]
        out.append({"tokens": row["tokens"], "entities": entities, "relations": relations})
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return path
