"""Relation classification micro- and macro-F1 over every label except the negative one ('no relation').

A prediction of a positive label counts toward precision, a gold positive label toward recall; predicting the
negative label for a gold relation is a miss, and the reverse a false alarm. Directed labels are distinct labels.
"""

import evaluate
from sklearn.metrics import precision_recall_fscore_support

from mtl_nlp.metric_modules import label_pair_info


class RelationF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return label_pair_info(
            __doc__,
            "",
            "predictions, references: label strings; labels: the label list; negative_label.",
        )

    def _compute(self, predictions, references, labels=None, negative_label=None):
        positive = [label for label in (labels or sorted(set(references))) if label != negative_label]
        scores = {}
        for average in ("micro", "macro"):
            p, r, f, _ = precision_recall_fscore_support(
                references, predictions, labels=positive, average=average, zero_division=0
            )
            scores.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
        return scores
