import pytest

from mtl_nlp.errors import DataFormatError
from mtl_nlp.readers import conll_line, read_conll, read_jsonl, read_tsv


def test_conll_reads_chosen_columns_and_skips_docstart(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n")
    ds = read_conll(str(path), {"tokens": 0, "tags": 3})
    assert ds.column_names == ["tokens", "tags"]
    assert ds["tokens"] == [["EU", "rejects"], ["Peter"]] and ds["tags"] == [["B-ORG", "O"], ["B-PER"]]
    assert conll_line(str(path), 1, 0) == 6 and conll_line(str(path), 0, 1) == 4


def test_conll_short_line_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ\n")
    with pytest.raises(DataFormatError, match=rf"{path}:2: expected at least 4 whitespace-separated columns"):
        read_conll(str(path), {"tokens": 0, "tags": 3})


def test_jsonl_bad_line_is_located(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n\n{"text": "broken", \n')
    with pytest.raises(DataFormatError, match=rf"{path}:3: not valid JSON"):
        read_jsonl(str(path), {"text": "text", "label": "label"})


def test_missing_field_names_the_fields_found(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("sentence\tlabel\nfine film\t1\n")
    with pytest.raises(DataFormatError, match=r"has no field text: 'text'; fields found: \['sentence', 'label'\]"):
        read_tsv(str(path), {"text": "text", "label": "label"})
    ds = read_tsv(str(path), {"text": "sentence", "label": "label"})
    assert ds[0] == {"text": "fine film", "label": 1}


def test_missing_file_says_which(tmp_path):
    with pytest.raises(DataFormatError, match="nope.jsonl: no such file"):
        read_jsonl(str(tmp_path / "nope.jsonl"), {})
