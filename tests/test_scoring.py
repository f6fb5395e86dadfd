"""Official scores, on hand-made cases whose figures were worked out by hand (and agree with scorer v1.2)."""

import json

import pytest

from conftest import ASSETS
from mtl_nlp.cli import main
from mtl_nlp.metrics import compute
from mtl_nlp.scoring import score_semeval

GOLD = ["Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)", "Component-Whole(e2,e1)", "Other", "Other"]
PRED = ["Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Cause-Effect(e1,e2)", "Other", "Component-Whole(e2,e1)"]


def test_semeval_official_macro_f1_counts_wrong_direction_against_precision():
    scores = compute("semeval2010_task8", PRED, GOLD, labels=[], negative_label=None)
    # Cause-Effect: 1 correct; proposed 2 (ids 1, 3) + 1 wrong direction (id 2): P = 1/3, R = 1/2, F1 = 0.4.
    # Component-Whole: nothing correct: F1 = 0. Macro over the gold relation types, Other excluded: 0.2.
    assert scores["per_type"]["Cause-Effect"]["precision"] == pytest.approx(1 / 3)
    assert scores["per_type"]["Cause-Effect"]["f1"] == pytest.approx(0.4)
    assert scores["macro_f1"] == pytest.approx(0.2) and scores["primary"] == scores["macro_f1"]
    assert scores["accuracy"] == pytest.approx(0.4)


def test_semeval_perfect_and_skipped_answers(tmp_path):
    assert compute("semeval2010_task8", GOLD, GOLD, labels=[], negative_label=None)["macro_f1"] == 1.0
    gold, pred = tmp_path / "gold.txt", tmp_path / "pred.txt"
    gold.write_text("".join(f"{i}\t{g}\n" for i, g in enumerate(GOLD, 1)))
    pred.write_text("".join(f"{i}\t{p}\n" for i, p in enumerate(PRED[:3], 1)))  # ids 4 and 5 skipped
    # Cause-Effect as above (0.4); Component-Whole: never proposed, so P = 0 and F1 = 0.
    assert score_semeval(str(pred), str(gold))["macro_f1"] == pytest.approx(0.2)


def test_score_cli_reads_the_dataset_file_as_gold(tmp_path, capsys):
    pred = tmp_path / "answers.txt"
    pred.write_text("1\tCause-Effect(e2,e1)\n2\tComponent-Whole(e2,e1)\n3\tOther\n")
    assert main(["score", "--metric", "semeval2010_task8", str(pred), str(ASSETS / "semeval_sample.txt")]) == 0
    assert "primary (semeval2010_task8): 50.00" in capsys.readouterr().out


def test_conll04_strict_relations_need_both_entities_right(tmp_path, capsys):
    gold = json.loads((ASSETS / "spert_sample.json").read_text())
    pred = json.loads(json.dumps(gold))
    pred[0]["entities"][2]["type"] = "Org"  # Paris mistyped: its entity and the OrgBased_In relation are wrong
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    assert main(["score", "--metric", "conll04", str(tmp_path / "pred.json"), str(ASSETS / "spert_sample.json")]) == 0
    out = capsys.readouterr().out
    assert "entity_precision 0.6667" in out and "relation_recall 0.5000" in out and "relation_f1 0.5000" in out


def test_seqeval_scores_conll_files_and_reports_misaligned_sentences(tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    pred.write_text((ASSETS / "conll_sample.txt").read_text().replace("I-PER", "O"))
    assert main(["score", "--metric", "seqeval", str(pred), str(ASSETS / "conll_sample.txt")]) == 0
    assert "precision 0.6667, recall 0.6667" in capsys.readouterr().out
    pred.write_text("EU NNP B-NP B-ORG\n")
    assert main(["score", "--metric", "seqeval", str(pred), str(ASSETS / "conll_sample.txt")]) == 2
    assert "has 1 sentences but the gold file" in capsys.readouterr().err
