"""Entity-level micro P/R/F1 with per-type scores, seqeval in strict IOB2 mode (the figure conlleval gives on IOB2)."""

import evaluate
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from mtl_nlp.metric_modules import label_pair_info


class SeqevalStrict(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return label_pair_info(
            __doc__,
            "Nakayama (2018), seqeval: A Python framework for sequence labeling evaluation.",
            "predictions and references: lists of IOB2 tag sequences of equal lengths.",
            sequence=True,
        )

    def _compute(self, predictions, references):
        report = classification_report(
            references, predictions, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
        )
        micro = report.pop("micro avg")
        for key in ("macro avg", "weighted avg"):
            report.pop(key, None)
        scores = {"precision": float(micro["precision"]), "recall": float(micro["recall"]), "f1": float(micro["f1-score"])}
        scores["per_type"] = {
            kind: {"precision": float(r["precision"]), "recall": float(r["recall"]), "f1": float(r["f1-score"]), "support": int(r["support"])}
            for kind, r in sorted(report.items())
        }
        return scores
