"""Readers for the benchmark formats: SST sentence files, SemEval-2010 Task 8 (CRLF), SpERT JSON."""

import pytest

from conftest import ASSETS
from mtl_nlp.errors import DataFormatError
from mtl_nlp.readers import read_conll, read_semeval, read_spert, read_sst

SEMEVAL = {"id": "id", "tokens": "tokens", "head": "head", "tail": "tail", "label": "label"}


def test_semeval_with_crlf_and_comments():
    ds = read_semeval(str(ASSETS / "semeval_sample.txt"), SEMEVAL)
    assert ds["id"] == ["1", "2", "3"] and ds["label"] == ["Cause-Effect(e2,e1)", "Component-Whole(e1,e2)", "Other"]
    first = ds[0]
    assert first["tokens"] == ["The", "fire", "was", "caused", "by", "a", "spark", "."]
    assert (first["head"]["start"], first["head"]["end"], first["tail"]["start"], first["tail"]["end"]) == (1, 2, 6, 7)


def test_semeval_bad_block_names_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text('1\t"no markup here"\nOther\nComment:\n\n')
    with pytest.raises(DataFormatError, match=rf"{path}:1: the sentence needs one <e1>..</e1>"):
        read_semeval(str(path), SEMEVAL)


def test_sst_lines_keep_words_that_look_like_comments(tmp_path):
    ds = read_sst(str(ASSETS / "sst_sample.txt"), {"text": "sentence", "label": "label"})
    assert ds["label"] == ["1", "0", "1"] and ds["text"][2] == "comment on a great movie"
    path = tmp_path / "bad.txt"
    path.write_text("1 fine\n0\n")
    with pytest.raises(DataFormatError, match=rf"{path}:2: expected 'label sentence'"):
        read_sst(str(path), {"text": "sentence", "label": "label"})


def test_spert_json_and_empty_sentences():
    ds = read_spert(str(ASSETS / "spert_sample.json"), {"tokens": "tokens", "entities": "entities", "relations": "relations"})
    assert len(ds) == 2 and ds[0]["relations"][1] == {"type": "OrgBased_In", "head": 1, "tail": 2}
    assert ds[1]["entities"] == []


def test_conll_sample_asset():
    ds = read_conll(str(ASSETS / "conll_sample.txt"), {"tokens": 0, "tags": 3})
    assert ds["tags"] == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
