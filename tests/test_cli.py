import json

import pytest

from conftest import write_yaml
from mtl_nlp.cli import main
from scripts_loader import script_main


def test_help_exits_cleanly(capsys):
    for command in ([], ["train"], ["evaluate"], ["predict"], ["validate"], ["demo-data"]):
        with pytest.raises(SystemExit) as info:
            main([*command, "--help"])
        assert info.value.code == 0
    assert "overrides" in capsys.readouterr().out


def test_a_relation_threshold_must_be_a_probability(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "model", "--data-dir", "d", "--relation-threshold", "1.5"])
    assert info.value.code == 2 and "must be a probability between 0 and 1, got 1.5" in capsys.readouterr().err


def test_bad_config_is_one_paragraph_not_a_traceback(tmp_path, tiny_run, capsys):
    run = tiny_run()
    text = run.read_text().replace("demo_ner.yaml", "demo_nerr.yaml")
    write_yaml(run, text)
    assert main(["validate", str(run), "train.max_stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: run ")
    assert "train.max_stepz: unknown key; did you mean 'train.max_steps'?" in err
    assert "no task file" in err and "did you mean 'demo_ner'?" in err


def test_bad_data_is_one_paragraph(tmp_path, tiny_run, demo_dir, capsys):
    broken = tmp_path / "broken"
    for folder in ("ner", "relation", "sentiment"):
        (broken / folder).mkdir(parents=True)
        for f in (demo_dir / folder).iterdir():
            (broken / folder / f.name).write_text(f.read_text())
    (broken / "sentiment" / "train.tsv").write_text("text\tlabel\ngreat film\tpositive\nmeh\tneutral\n")
    assert main(["train", str(tiny_run()), "--data-dir", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{broken / 'sentiment' / 'train.tsv'}:3: label 'neutral' is not in the labels of task 'demo_sentiment'" in err


def test_train_evaluate_predict_round_trip(tiny_run, demo_dir, tmp_path, capsys):
    run = tiny_run()
    assert main(["train", str(run)]) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["dev"]) == {"demo_ner", "demo_relation", "demo_sentiment"}
    means = {h["step"]: sum(r["primary"] for r in h["dev"].values()) / 3 for h in summary["history"]}
    assert list(means) == [2, 4] and summary["best_step"] == max(means, key=means.get)  # the first best is kept
    assert summary["dev"] == summary["history"][[2, 4].index(summary["best_step"])]["dev"]
    assert list((out / "runs").rglob("events.out.tfevents*")) or list(out.rglob("events.out.tfevents*"))
    printed = capsys.readouterr().out
    assert "demo_ner: precision" in printed and "demo_sentiment: accuracy" in printed

    answers = tmp_path / "answers"
    args = ["evaluate", str(out), "--data-dir", str(demo_dir), "--output", str(tmp_path / "eval.json"), "--predictions", str(answers)]
    assert main(args) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    for task, scores in summary["dev"].items():
        assert evaluated[task]["primary"] == pytest.approx(scores["primary"]), task
    relation_answers = (answers / "demo_relation.dev.answers.txt").read_text().splitlines()
    assert len(relation_answers) == 16 and relation_answers[0].startswith("1\t")
    ner_lines = (answers / "demo_ner.dev.conll.txt").read_text().split("\n\n")[0].splitlines()
    assert len(ner_lines[0].split()) == 3 and (answers / "demo_sentiment.dev.tsv").exists()
    rescored = main(["score", "--metric", "seqeval", str(answers / "demo_ner.dev.conll.txt"), str(demo_dir / "ner" / "dev.txt")])
    assert rescored == 0 and f"primary (seqeval): {100 * evaluated['demo_ner']['primary']:.2f}" in capsys.readouterr().out

    decoding = tmp_path / "decoding"
    assert script_main("benchmark_decoding")([str(out), "--tasks", "demo_ner", "--data-dir", str(demo_dir), "--out", str(decoding)]) == 0
    (row,) = json.loads((decoding / "decoding.json").read_text())["rows"]
    assert row["task"] == "demo_ner" and row["argmax"] == pytest.approx(evaluated["demo_ner"]["f1"])
    assert 0 <= row["viterbi"] <= 1 and f"| {out} | demo_ner | f1 |" in (decoding / "decoding.md").read_text()

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "Anna Smith works for <e1:PER>Anna</e1> <e2:ORG>Globex</e2> ."}\n{"text": "A great film ."}\n')
    assert main(["predict", str(out), "--input", str(inputs), "--output", str(tmp_path / "pred.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["demo_relation"]["encoder_passes"] == 1 and len(rows[0]["demo_relation"]["relations"]) == 1
    assert rows[0]["text"] == "Anna Smith works for Anna Globex ."  # the markup is read, not predicted on
    assert rows[1]["demo_sentiment"]["label"] in ("negative", "positive") and "entities" in rows[1]["demo_ner"]


def test_predict_without_input_is_a_clear_error(tiny_run, capsys):
    assert main(["predict", "somewhere"]) == 2
    assert "give --text TEXT" in capsys.readouterr().err


def test_the_command_and_training_scripts_settle_the_allocator_before_anything_runs(monkeypatch):
    import mtl_nlp.cli

    calls = []
    monkeypatch.setattr(mtl_nlp.cli, "preload_jemalloc", lambda: calls.append("allocator"))
    monkeypatch.setattr(mtl_nlp.cli, "main", lambda argv=None: calls.append(("main", argv)) or 0)
    monkeypatch.setattr(mtl_nlp.cli.sys, "argv", ["scripts/train.py", "run.yaml", "train.max_steps=3"])
    assert mtl_nlp.cli.entry() == 0
    with pytest.raises(SystemExit) as info:
        mtl_nlp.cli.run_script(lambda argv: calls.append(("script", argv)) or 3)
    assert info.value.code == 3
    assert calls == ["allocator", ("main", None), "allocator", ("script", ["run.yaml", "train.max_steps=3"])]
