"""Joint entity and relation extraction scored as SpERT scores it (strict): an entity is right when its span and
type are right; a relation is right when both of its entities are right (spans and types) and its type is right.
Micro P/R/F1 over all relation types, macro F1 over relation types present in gold or predictions, and entity
micro P/R/F1. Each prediction and reference is one sentence as JSON: {"entities": [[start, end, type], ...],
"relations": [[hs, he, htype, ts, te, ttype, rtype], ...]} in word offsets, end exclusive.
"""

import json
from collections import Counter

import evaluate

from mtl_nlp.metric_modules import label_pair_info


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def strict_scores(predictions: list[str], references: list[str]) -> dict:
    counts = {"entity": Counter(), "relation": Counter()}
    by_type: dict[str, Counter] = {}
    for predicted, gold in zip(map(json.loads, predictions), map(json.loads, references)):
        for kind in ("entities", "relations"):
            p_set, g_set = {tuple(x) for x in predicted[kind]}, {tuple(x) for x in gold[kind]}
            bucket = counts["entity" if kind == "entities" else "relation"]
            bucket["tp"] += len(p_set & g_set)
            bucket["fp"] += len(p_set - g_set)
            bucket["fn"] += len(g_set - p_set)
            if kind == "relations":
                for item, field in [(x, "tp") for x in p_set & g_set] + [(x, "fp") for x in p_set - g_set] + [(x, "fn") for x in g_set - p_set]:
                    by_type.setdefault(item[-1], Counter())[field] += 1
    scores = {}
    for name, c in counts.items():
        p, r, f = prf(c["tp"], c["fp"], c["fn"])
        scores.update({f"{name}_precision": p, f"{name}_recall": r, f"{name}_f1": f})
    per_type = {k: dict(zip(("precision", "recall", "f1"), prf(c["tp"], c["fp"], c["fn"]))) for k, c in sorted(by_type.items())}
    scores["relation_macro_f1"] = sum(v["f1"] for v in per_type.values()) / len(per_type) if per_type else 0.0
    scores["per_type"] = per_type
    return scores


class SpertStrict(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return label_pair_info(
            __doc__,
            "Eberts and Ulges (2020), Span-based Joint Entity and Relation Extraction with Transformer Pre-training.",
            "predictions and references: one JSON string per sentence (see the description).",
        )

    def _compute(self, predictions, references):
        return strict_scores(predictions, references)
