import torch

from mtl_nlp.bench.pooling import masked_span_max, table
from mtl_nlp.heads import pair_states


def test_the_reference_pooling_gives_the_heads_values():
    hidden = torch.randn(2, 9, 4, generator=torch.Generator().manual_seed(0))
    spans = torch.tensor([[[1, 3, 5, 9], [5, 9, 1, 3], [0, 1, 0, 1]], [[2, 4, 4, 6], [0, 9, 3, 4], [6, 7, 1, 2]]])
    assert torch.equal(pair_states(hidden, spans, masked_span_max), pair_states(hidden, spans))


def test_table_reports_both_poolings_and_the_speed_up():
    timing = {"mean": 0.5, "median": 0.4, "max": 0.9}
    result = {
        "command": "python scripts/benchmark_pooling.py --data-dir d", "task": "conll04", "encoder": "e", "batch_size": 16,
        "batches": 2, "pairs_per_batch": {"mean": 50, "max": 90}, "padded_length": {"mean": 60, "max": 80},
        "environment": {"device": "CPU (x86_64)", "torch": "2", "torch_threads": 2},
        "seconds_per_step": {"span_max": timing, "masked": {**timing, "median": 0.8}}, "speedup_median": 2.0,
    }
    text = table(result)
    assert "| span_max | 0.500 | 0.400 | 0.900 |" in text and "| masked | 0.500 | 0.800 | 0.900 |" in text
    assert "2.00x" in text and "Command: `python scripts/benchmark_pooling.py --data-dir d`" in text
