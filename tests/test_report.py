import json
import re

import pytest

from conftest import REPO
from mtl_nlp.cli import main
from mtl_nlp.report import write_report
from mtl_nlp.report.page import markdown_tables


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir, demo_dir):
    from conftest import write_yaml
    from mtl_nlp.trainer import train
    from mtl_nlp.validation import validate_run

    root = tmp_path_factory.mktemp("report_run")
    run = write_yaml(root / "run.yaml", {
        "encoder": str(tiny_encoder_dir),
        "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation", "sentiment")],
        "data_dir": str(demo_dir), "output_dir": str(root / "out"), "sampling": {"type": "round_robin"},
        "train": {"max_steps": 6, "eval_every": 3, "batch_size": 4, "eval_batch_size": 8, "log_every": 1},
    })
    return train(validate_run(run))


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_training_report_embeds_every_figure_and_the_run_figures(trained, capsys):
    assert main(["report", str(trained)]) == 0
    page = trained / "report" / "report.html"
    assert str(page) in capsys.readouterr().out
    html = page.read_text()
    metrics = json.loads((trained / "metrics.json").read_text())
    pngs = sorted(p.name for p in (trained / "report").glob("*.png"))
    per_type = [f"per_type_{t}.png" for t, s in metrics["dev"].items() if s.get("per_type")]
    assert "per_type_demo_ner.png" in per_type
    assert pngs == sorted(["confusion_demo_relation.png", "confusion_demo_sentiment.png", "dev_curves.png", "train_losses.png", *per_type])
    assert len(_images(html)) == len(pngs) and "http" not in html  # nothing to fetch
    for task in metrics["run"]["tasks"]:
        primary = 100 * metrics["dev"][task["name"]]["primary"]
        assert f"<td>{task['name']}</td><td>{task['metric']}</td><td>{primary:.2f}</td>" in html
    assert [e["step"] for e in metrics["train_losses"]] == [1, 2, 3, 4, 5, 6]
    assert set(metrics["train_losses"][0]["loss"]) == {"demo_ner"}  # round robin: the first step is the first task's


def test_confusion_counts_are_every_dev_example_once(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    confusion = metrics["dev"]["demo_sentiment"]["confusion"]
    assert confusion["labels"] == ["negative", "positive"] and sum(map(sum, confusion["counts"])) == 16
    accuracy = sum(confusion["counts"][i][i] for i in range(2)) / 16
    assert accuracy == pytest.approx(metrics["dev"]["demo_sentiment"]["accuracy"])


def test_harness_report_has_its_tables_comparison_and_curves(tmp_path):
    folder = tmp_path / "bench"
    folder.mkdir()
    history = [{"step": 2, "dev": {"a": {"primary": 0.5}, "b": {"primary": 0.6}}}]
    results = {
        "command": "python scripts/benchmark.py x.yaml", "seeds": [1, 2], "train_sizes": {"a": 10, "b": 20}, "run": {"encoder": "e"},
        "summary": {"a": {"multitask_dev": [0.81, 0.01], "single_dev": [0.8, 0.02]}, "b": {"multitask_dev": [0.7, 0.0], "single_dev": None}},
        "runs": {"multitask": {"1": {"dev": {"a": {"primary": 0.8}}, "history": history}},
                 "single-a": {"1": {"dev": {"a": {"primary": 0.8}}, "history": history}}},
    }
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "results.md").write_text("Intro.\n\n| task | multi | single |\n| --- | --- | --- |\n| a | 81.00 | 80.00 |\n")
    html = write_report(folder, tmp_path / "out").read_text()
    assert "<td>a</td><td>81.00</td><td>80.00</td>" in html
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["comparison.png", "curves_multitask.png"]
    assert len(_images(html)) == 2 and '"encoder": "e"' in html


def test_markdown_tables_skip_the_rule_line():
    assert markdown_tables("x\n| a | b |\n| --- | :-: |\n| 1 | 2 |\n\n| c |\n| --- |\n") == [(["a", "b"], [["1", "2"]]), (["c"], [])]


def test_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no metrics.json (a training run) or results.json" in capsys.readouterr().err
