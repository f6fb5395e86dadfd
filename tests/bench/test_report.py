from mtl_nlp.bench.report import evaluations_table, markdown_report


def _history(task_figures: dict[str, list[float]], steps: list[int]) -> list[dict]:
    return [{"step": step, "dev": {task: {"primary": figures[i]} for task, figures in task_figures.items()}}
            for i, step in enumerate(steps)]


def _report(runs: dict) -> dict:
    return {"summary": {"ner": {}, "sentiment": {}}, "runs": runs, "seeds": [1], "command": "c",
            "environment": {"device": "CPU (test)", "torch": "x", "torch_threads": 2}}


def test_every_evaluation_is_listed_by_task_model_and_seed_with_the_kept_step_in_bold():
    runs = {
        "multitask": {"1": {"best_step": 20, "history": _history({"ner": [0.5, 0.61, 0.6], "sentiment": [0.7, 0.8, 0.9]}, [10, 20, 25])}},
        "single-ner": {"1": {"best_step": 12, "history": _history({"ner": [0.55, 0.625]}, [6, 12])}},
    }
    table = evaluations_table(_report(runs))
    assert "| ner | multi-task | 1 | 10: 50.00, **20: 61.00**, 25: 60.00 |" in table
    assert "| ner | single-task | 1 | 6: 55.00, **12: 62.50** |" in table
    assert "| sentiment | multi-task | 1 | 10: 70.00, **20: 80.00**, 25: 90.00 |" in table
    assert not any(line.startswith("| sentiment | single-task") for line in table)  # no baseline was trained for it
    assert "| ner | multi-task | 1 | 10: 50.00, **20: 61.00**, 25: 60.00 |" in markdown_report(_report(runs), {"ner": "f1", "sentiment": "accuracy"})


def test_records_without_learning_curves_add_no_table():
    assert evaluations_table(_report({"multitask": {"1": {"best_step": 5}}})) == []
