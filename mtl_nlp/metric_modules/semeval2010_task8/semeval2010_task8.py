"""SemEval-2010 Task 8 official score: macro-averaged F1 over the nine relation types for the (9+1)-way
classification with directionality taken into account, Other excluded (scorer v1.2, evaluation (iii)).

For each relation type R found in the gold answers: a prediction is correct when type and direction both match;
precision's denominator holds the predictions of type R that were not right-type-wrong-direction, plus the gold-R
examples predicted as R in the wrong direction; recall's is the number of gold R. The macro average runs over the
relation types present in the gold answers, Other left out. Figures are fractions (the Perl scorer prints percent).
"""

import re
from collections import Counter

import evaluate

from mtl_nlp.metric_modules import label_pair_info

DIRECTION = re.compile(r"\(e[12],e[12]\)$")
OTHER = "Other"


def relation_type(label: str) -> str:
    return DIRECTION.sub("", label)


def official_scores(predictions: list[str], references: list[str]) -> dict:
    gold = Counter(relation_type(r) for r in references)
    correct, proposed, wrong_direction = Counter(), Counter(), Counter()
    for predicted, answer in zip(predictions, references):
        p_type, a_type = relation_type(predicted), relation_type(answer)
        if predicted == answer:
            correct[a_type] += 1
            proposed[p_type] += 1
        elif p_type == a_type:
            wrong_direction[a_type] += 1
        else:
            proposed[p_type] += 1
    per_type = {}
    for kind in sorted(gold):
        p = correct[kind] / (proposed[kind] + wrong_direction[kind]) if proposed[kind] else 0.0
        r = correct[kind] / gold[kind]
        per_type[kind] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": gold[kind]}
    relations = [k for k in per_type if k != OTHER]
    micro_correct = sum(correct[k] for k in relations)
    micro_proposed = sum(proposed[k] + wrong_direction[k] for k in relations)
    micro_gold = sum(gold[k] for k in relations)
    micro_p = micro_correct / micro_proposed if micro_proposed else 0.0
    micro_r = micro_correct / micro_gold if micro_gold else 0.0
    return {
        "macro_f1": sum(per_type[k]["f1"] for k in relations) / len(relations) if relations else 0.0,
        "macro_precision": sum(per_type[k]["precision"] for k in relations) / len(relations) if relations else 0.0,
        "macro_recall": sum(per_type[k]["recall"] for k in relations) / len(relations) if relations else 0.0,
        "micro_f1": 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0,
        "accuracy": sum(p == r for p, r in zip(predictions, references)) / len(references) if references else 0.0,
        "per_type": per_type,
    }


class Semeval2010Task8(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return label_pair_info(
            __doc__,
            "Hendrickx et al. (2010), SemEval-2010 Task 8: Multi-Way Classification of Semantic Relations.",
            "predictions and references: directed labels such as 'Cause-Effect(e2,e1)' or 'Other'.",
        )

    def _compute(self, predictions, references):
        return official_scores(predictions, references)
