import logging

import pytest

from mtl_nlp.config import TaskConfig
from mtl_nlp.data import load_split, tokenize, training_split
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


def test_sentences_longer_than_max_length_are_windowed_and_said_in_the_log(tmp_path, tiny_tokenizer, caplog):
    words = " ".join(["the"] * 12)
    text = "\n".join(f"{w} O" for w in words.split()) + "\njohn B-PER\nsmith I-PER\n\njohn B-PER\n"
    config, task = _ner(tmp_path, text, max_length=8)
    raw = load_split(config, task, "train", tmp_path)
    with caplog.at_level(logging.INFO):
        out = tokenize(raw, task, tiny_tokenizer, "ner/train")
    assert "ner/train: 1 example(s) longer than max_length=8 are read in 3 overlapping windows" in caplog.text
    assert "cut by max_length" not in caplog.text  # nothing was cut
    assert out["window"] == [0, 1, 2, 0] and all(len(ids) <= 8 for ids in out["input_ids"]) and "lost" not in out.column_names


def test_what_max_length_still_cuts_is_counted_in_the_log(tmp_path, tiny_tokenizer, caplog):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "the " * 20 + "\t1\nfine\t0\n")
    config = TaskConfig(name="sst2", type="sequence_classification", format="tsv", files={"train": "train.tsv"},
                        columns={"text": "sentence"}, labels=["0", "1"], metric="accuracy", max_length=8)
    task = build_task(config)
    with caplog.at_level(logging.WARNING):
        tokenize(load_split(config, task, "train", tmp_path), task, tiny_tokenizer, "sst2/train")
    assert "sst2/train: 1 text(s) cut by max_length=8" in caplog.text


def test_rows_a_task_adds_for_training_are_counted_in_the_log(tmp_path, caplog):
    (tmp_path / "train.txt").write_text('1\t"The <e1>smoke</e1> came from a <e2>fire</e2>."\nCause-Effect(e2,e1)\n'
                                        "Comment:\n\n")
    config = TaskConfig(name="sem", type="relation_classification", format="semeval", files={"train": "train.txt"},
                        labels=["Other", "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"], metric="semeval2010_task8",
                        negative_label="Other", swapped_pairs=True)
    task = build_task(config)
    with caplog.at_level(logging.INFO):
        out = training_split(config, task, tmp_path)
    assert out["label"] == ["Cause-Effect(e2,e1)", "Cause-Effect(e1,e2)"]
    assert "sem/train: 1 examples read, 2 trained on (+1 from the task's settings, e.g. swapped_pairs)" in caplog.text


def test_hub_dataset_offline_says_to_use_local_files(tmp_path):
    from mtl_nlp.errors import ConfigError

    config = TaskConfig(name="ner", type="token_classification", hub="conll2003", labels=["O"], metric="seqeval")
    with pytest.raises(ConfigError, match=r"could not load Hub dataset 'conll2003' split 'train'.*give local files"):
        load_split(config, build_task(config), "train", tmp_path)


def _sst(tmp_path) -> TaskConfig:
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na fine film \t1\ndull \t0\n")
    (tmp_path / "dev.txt").write_text("1 a stirring , funny film\n0 apparently reassembled\n")
    return TaskConfig(
        name="sst2", type="sequence_classification", format={"train": "tsv", "dev": "sst"}, hub="glue",
        files={"train": "train.tsv", "dev": "dev.txt"}, columns={"text": "sentence"}, labels=["0", "1"], metric="accuracy",
    )


def test_each_split_is_read_in_its_own_format(tmp_path):
    config = _sst(tmp_path)
    train, dev = (load_split(config, build_task(config), split, tmp_path) for split in ("train", "dev"))
    assert [r["text"].strip() for r in train] == ["a fine film", "dull"] and [str(r["label"]) for r in train] == ["1", "0"]
    assert dev[0] == {"text": "a stirring , funny film", "label": "1"}


def test_per_split_format_errors_name_the_line_in_that_format(tmp_path):
    config = _sst(tmp_path)
    (tmp_path / "dev.txt").write_text("1 fine\n2 unknown label\n")
    with pytest.raises(DataFormatError, match=rf"{tmp_path / 'dev.txt'}:2: label '2' is not in the labels"):
        load_split(config, build_task(config), "dev", tmp_path)


@pytest.mark.parametrize("names, expected", [(["negative", "positive"], ["1", "0"]), (["0", "1"], ["1", "0"]), (["neg", "pos"], ["pos", "neg"])])
def test_hub_class_label_ids_become_the_tasks_label_strings(tmp_path, monkeypatch, names, expected):
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=names), "idx": datasets.Value("int32")})
    hub = datasets.Dataset.from_dict({"sentence": ["good", "bad"], "label": [1, 0], "idx": [0, 1]}, features=features)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: hub)
    config = _sst(tmp_path)
    config.files = {}
    config.labels = names if names == ["neg", "pos"] else ["0", "1"]
    rows = load_split(config, build_task(config), "train", tmp_path)
    assert rows["label"] == expected and rows["text"] == ["good", "bad"]


def test_length_grouped_batches_are_similar_in_length_reproducible_and_complete():
    import torch

    from mtl_nlp.data import LengthGroupedBatches

    lengths = [(i * 37) % 101 + 1 for i in range(200)]
    batches = list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(3), window=5))
    assert sorted(i for b in batches for i in b) == list(range(200)) and len(batches) == 25
    assert batches == list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(3), window=5))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    shuffled = torch.randperm(200, generator=torch.Generator().manual_seed(0)).tolist()
    plain = sum(max(lengths[i] for i in shuffled[k:k + 8]) - min(lengths[i] for i in shuffled[k:k + 8]) for k in range(0, 200, 8)) / 25
    assert spread < plain / 3  # padding per batch follows the spread of lengths in it
    again = list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(4), window=5))
    assert again != batches  # another seed, another order
    one = list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(3), window=1))
    order = torch.randperm(200, generator=torch.Generator().manual_seed(3)).tolist()
    assert {frozenset(b) for b in one} == {frozenset(order[k:k + 8]) for k in range(0, 200, 8)}  # a window of one: random batches
