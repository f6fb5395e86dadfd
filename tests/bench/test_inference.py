from mtl_nlp.bench.inference import markdown, threshold_markdown


def test_tables_show_each_setting_on_the_same_model():
    rows = [{"model": "m", "task": "t", "metric": "f1", "argmax": 0.5, "viterbi": 0.525}]
    assert "| m | t | f1 | 50.00 | 52.50 | +2.50 |" in markdown(rows, "dev")
    swept = [{"model": "m", "task": "t", "saved": 0.6, "thresholds": {"0.4": 0.61, "0.5": 0.59}}]
    text = threshold_markdown(swept, [0.4, 0.5], "dev")
    assert "| model | task | as saved | 0.4 | 0.5 |" in text and "| m | t | 60.00 | 61.00 | 59.00 |" in text
