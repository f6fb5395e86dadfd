"""Our evaluate metric modules. Each folder is loaded by path through ``evaluate.load``; they share this helper."""

import datasets
import evaluate


def label_pair_info(description: str, citation: str, inputs: str, sequence: bool = False) -> evaluate.MetricInfo:
    """MetricInfo for metrics over (prediction, reference) strings, or string sequences when ``sequence``."""
    value = datasets.Sequence(datasets.Value("string")) if sequence else datasets.Value("string")
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs,
        features=datasets.Features({"predictions": value, "references": value}),
    )
