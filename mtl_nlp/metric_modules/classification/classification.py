"""Accuracy and macro-F1 over the task's label list, for sequence classification."""

import evaluate
from sklearn.metrics import accuracy_score, f1_score

from mtl_nlp.metric_modules import label_pair_info


class Classification(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return label_pair_info(
            __doc__,
            "",
            "predictions and references: label strings; labels: the task's label list.",
        )

    def _compute(self, predictions, references, labels=None):
        return {
            "accuracy": float(accuracy_score(references, predictions)),
            "macro_f1": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
        }
