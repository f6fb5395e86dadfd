import logging

import pytest

from mtl_nlp.config import TaskConfig
from mtl_nlp.data import load_split, tokenize
from mtl_nlp.errors import DataFormatError
from mtl_nlp.tasks import build_task


def _ner(tmp_path, text: str, **extra) -> tuple[TaskConfig, object]:
    (tmp_path / "train.txt").write_text(text)
    config = TaskConfig(
        name="ner", type="token_classification", format="conll", files={"train": "train.txt"},
        columns={"tokens": 0, "tags": 1}, labels=["O", "B-PER", "I-PER"], metric="seqeval",
        source={"labels": ("ner.yaml", 6)}, **extra,
    )
    return config, build_task(config)


def test_label_missing_from_label_list_names_file_line_and_fix(tmp_path):
    config, task = _ner(tmp_path, "John B-PER\nlives O\n\nin O\nParis B-LOC\n")
    with pytest.raises(DataFormatError) as info:
        load_split(config, task, "train", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'train.txt'}:5: label 'B-LOC' is not in the labels of task 'ner' (ner.yaml:6)")
    assert "Add it to 'labels' or fix the data." in message


def test_entities_cut_by_max_length_are_counted_in_the_log(tmp_path, tiny_tokenizer, caplog):
    words = " ".join(["the"] * 12)
    text = "\n".join(f"{w} O" for w in words.split()) + "\njohn B-PER\nsmith I-PER\n"
    config, task = _ner(tmp_path, text, max_length=8)
    raw = load_split(config, task, "train", tmp_path)
    with caplog.at_level(logging.WARNING):
        out = tokenize(raw, task, tiny_tokenizer, "ner/train")
    assert "ner/train: 1 gold unit(s)" in caplog.text and "max_length=8" in caplog.text
    assert "lost" not in out.column_names and len(out[0]["input_ids"]) == 8


def test_hub_dataset_offline_says_to_use_local_files(tmp_path):
    from mtl_nlp.errors import ConfigError

    config = TaskConfig(name="ner", type="token_classification", hub="conll2003", labels=["O"], metric="seqeval")
    with pytest.raises(ConfigError, match=r"could not load Hub dataset 'conll2003' split 'train'.*give local files"):
        load_split(config, build_task(config), "train", tmp_path)
