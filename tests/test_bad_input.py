"""The catalogue of bad input: each case runs the command a user would and expects one clear paragraph (exit 2, no
traceback) naming the file and line, or the key, and saying what to do. The README's error table lists them."""

import errno
import json
import shutil

import pytest
import yaml

from conftest import ASSETS, REPO
from mtl_nlp.cli import main

TASKS = {t: REPO / "task_configs" / f"demo_{t}.yaml" for t in ("ner", "relation", "sentiment")}


@pytest.fixture
def setup(tmp_path, tiny_encoder_dir, demo_dir):
    """A copy of the demo data and task files, and a run over them, that each case may break."""
    data = shutil.copytree(demo_dir, tmp_path / "data")
    for name, path in TASKS.items():
        shutil.copy(path, tmp_path / f"demo_{name}.yaml")
    run = {"encoder": str(tiny_encoder_dir), "tasks": [str(tmp_path / f"demo_{t}.yaml") for t in TASKS], "data_dir": str(data),
           "output_dir": str(tmp_path / "out"), "train": {"max_steps": 2, "eval_every": 2, "batch_size": 4, "eval_batch_size": 8}}
    return tmp_path, data, run


def _write_run(tmp_path, run) -> str:
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    return str(tmp_path / "run.yaml")


def _edit_task(tmp_path, name, **changes):
    path = tmp_path / f"demo_{name}.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **changes}))


def _insert_line(path, position: int, text: str) -> None:
    """Put ``text`` in as line ``position`` (1-based) of ``path``."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: position - 1]) + text + "".join(lines[position - 1 :]))


def _error(argv, capsys) -> str:
    """The one error paragraph the command printed (progress bars may share standard error)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" not in err and err.count("error: ") == 1
    return err[err.index("error: "):]


def _train(setup, capsys) -> str:
    tmp_path, _, run = setup
    return _error(["train", _write_run(tmp_path, run)], capsys)


def test_malformed_yaml_names_file_and_line(setup, capsys):
    tmp_path, _, _ = setup
    (tmp_path / "run.yaml").write_text("tasks: [a\nencoder: x\n")
    err = _error(["train", str(tmp_path / "run.yaml")], capsys)
    assert "run.yaml:" in err and "not valid YAML" in err


def test_unknown_run_key_suggests_the_right_one(setup, capsys):
    tmp_path, _, run = setup
    run["train"]["learning_rat"] = 1e-4
    err = _error(["train", _write_run(tmp_path, run)], capsys)
    assert "train.learning_rat: unknown key; did you mean 'learning_rate'?" in err


def test_unknown_task_type(setup, capsys):
    tmp_path, _, _ = setup
    _edit_task(tmp_path, "sentiment", type="sequence_clasification")
    assert "demo_sentiment.yaml" in (err := _train(setup, capsys)) and "sequence_classification" in err


def test_missing_data_file(setup, capsys):
    _, data, _ = setup
    (data / "sentiment" / "train.tsv").unlink()
    err = _train(setup, capsys)
    assert "sentiment/train.tsv" in err and ("no such file" in err or "does not exist" in err)


@pytest.mark.parametrize("name,file", [("sentiment", "train.tsv"), ("ner", "train.txt"), ("relation", "train.jsonl")])
def test_empty_data_file(setup, capsys, name, file):
    _, data, _ = setup
    (data / name / file).write_text("")
    err = _train(setup, capsys)
    assert f"{name}/{file}: is empty: it holds no examples" in err


@pytest.mark.parametrize("row,count", [("bad film\n", 1), ("bad film\tnegative\textra\n", 3)])
def test_tsv_row_with_too_few_or_too_many_fields(setup, capsys, row, count):
    _, data, _ = setup
    _insert_line(data / "sentiment" / "train.tsv", 4, row)
    err = _train(setup, capsys)
    assert f"sentiment/train.tsv:4: {count} field(s), expected 2 like the header" in err


def test_unknown_label_names_line_and_task(setup, capsys):
    _, data, _ = setup
    _insert_line(data / "sentiment" / "train.tsv", 2, "A fine film .\tneutral\n")
    err = _train(setup, capsys)
    assert "sentiment/train.tsv:2: label 'neutral' is not in the labels" in err and "Add it to 'labels'" in err


def test_dev_label_missing_from_the_task_labels(setup, capsys):
    _, data, _ = setup
    _insert_line(data / "sentiment" / "dev.tsv", 2, "A fine film .\tmixed\n")
    assert "sentiment/dev.tsv:2: label 'mixed'" in _train(setup, capsys)


@pytest.mark.parametrize("name,file,line", [("sentiment", "train.tsv", 3), ("ner", "train.txt", 4), ("relation", "train.jsonl", 2)])
def test_a_byte_that_is_not_utf8_names_file_and_line(setup, capsys, name, file, line):
    _, data, _ = setup
    path = data / name / file
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1][:3] + b"\xe9" + lines[line - 1][3:]
    path.write_bytes(b"\n".join(lines))
    err = _train(setup, capsys)
    assert f"{name}/{file}:{line}: byte 0xe9 at column 4 is not UTF-8; re-save the file as UTF-8" in err


def test_bom_and_crlf_are_accepted(setup, capsys):
    tmp_path, data, run = setup
    for path in (data / "sentiment" / "train.tsv", data / "ner" / "train.txt"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["train", _write_run(tmp_path, run)]) == 0


def test_invalid_json_line(setup, capsys):
    _, data, _ = setup
    _insert_line(data / "relation" / "train.jsonl", 2, '{"tokens": ["a"], \n')
    assert "relation/train.jsonl:2: not valid JSON" in _train(setup, capsys)


def test_relation_span_out_of_range(setup, capsys):
    _, data, _ = setup
    path = data / "relation" / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["tail"]["end"] = 99
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert "relation/train.jsonl:2" in (err := _train(setup, capsys)) and "outside the" in err


def test_overlapping_relation_spans(setup, capsys):
    _, data, _ = setup
    path = data / "relation" / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["tail"] = {**rows[0]["head"], "type": "LOC"}
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert "relation/train.jsonl:1" in (err := _train(setup, capsys)) and "overlap" in err


def test_semeval_sentence_without_markers(tmp_path, capsys):
    from mtl_nlp.errors import DataFormatError
    from mtl_nlp.readers import read_semeval

    path = tmp_path / "train.txt"
    path.write_text('1\t"A sentence without any markers ."\nOther\nComment:\n\n')
    with pytest.raises(DataFormatError, match=r"train.txt:1: the sentence needs one <e1>..</e1> and one <e2>..</e2>"):
        read_semeval(str(path), {})


def test_joint_relation_pointing_to_a_missing_entity(tmp_path, capsys):
    from mtl_nlp.config import TaskConfig
    from mtl_nlp.tasks import build_task

    task = build_task(TaskConfig(name="j", type="joint_entity_relation", labels=["none", "r"], metric="conll04",
                                 negative_label="none", entity_types=["A"], files={"train": "x"}))
    row = {"tokens": ["a", "b"], "entities": [{"type": "A", "start": 0, "end": 1}], "relations": [{"type": "r", "head": 0, "tail": 3}]}
    assert "entity" in task.check(row)
    row = {"tokens": ["a", "b"], "entities": [{"type": "A", "start": 1, "end": 5}], "relations": []}
    assert "outside" in task.check(row) or "out of range" in task.check(row)


def test_conll_line_with_too_few_columns(setup, capsys):
    _, data, _ = setup
    path = data / "ner" / "train.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].split()[0] + "\n"
    path.write_text("".join(lines))
    assert "ner/train.txt:4: expected at least 2 whitespace-separated columns" in _train(setup, capsys)


def test_max_length_above_the_encoder_limit(setup, capsys):
    tmp_path, _, _ = setup
    _edit_task(tmp_path, "sentiment", max_length=512)
    assert "max_length: 512 is more than the encoder's 128 positions" in _train(setup, capsys)


def test_tokenizer_from_another_model(setup, capsys, tiny_encoder_dir):
    tmp_path, _, run = setup
    from transformers import AutoTokenizer

    encoder = shutil.copytree(tiny_encoder_dir, tmp_path / "encoder")
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    tokenizer.add_tokens([f"extra{i}" for i in range(50)])  # a bigger vocabulary than the weights were trained with
    tokenizer.save_pretrained(encoder)
    run["encoder"] = str(encoder)
    assert "they come from different models" in _error(["train", _write_run(tmp_path, run)], capsys)


def test_unknown_metric(setup, capsys):
    tmp_path, _, _ = setup
    _edit_task(tmp_path, "sentiment", metric="acuracy")
    assert "did you mean 'accuracy'?" in _train(setup, capsys)


def test_missing_encoder_folder(setup, capsys):
    tmp_path, _, run = setup
    run["encoder"] = str(tmp_path / "nowhere")
    assert "could not be loaded" in (err := _error(["train", _write_run(tmp_path, run)], capsys)) and "model folder" in err


@pytest.fixture
def trained(setup):
    tmp_path, _, run = setup
    assert main(["train", _write_run(tmp_path, run)]) == 0
    return tmp_path / "out"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no config", "no tokenizer"])
def test_damaged_or_missing_model_files(trained, capsys, damage):
    weights = trained / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:2000])
    elif damage == "garbage":
        weights.write_bytes(b"\x00\x01not a safetensors file" * 50)
    elif damage == "no config":
        (trained / "config.json").unlink()
    else:
        (trained / "tokenizer.json").unlink()
        (trained / "tokenizer_config.json").unlink()
        (trained / "vocab.txt").unlink(missing_ok=True)
    err = _error(["predict", str(trained), "--text", "Anna Smith works for Acme ."], capsys)
    assert str(trained) in err and ("could not be loaded" in err or "not a model folder" in err)


def test_a_diverging_loss_stops_naming_step_and_task(setup, capsys):
    tmp_path, _, run = setup
    run["train"].update(learning_rate=1e30, head_learning_rate=1e30, max_grad_norm=1e30, max_steps=6, eval_every=6, log_every=1)
    err = _error(["train", _write_run(tmp_path, run)], capsys)
    assert "became NaN or infinite at step" in err and "task 'demo_" in err and "Lower the learning rate" in err


def test_no_space_left_while_saving(setup, capsys, monkeypatch):
    from accelerate import Accelerator

    tmp_path, _, run = setup
    run["train"].update(checkpoint_every=1)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Accelerator, "save_state", full)
    err = _error(["train", _write_run(tmp_path, run)], capsys)
    assert "no space left on the device while saving" in err and "No checkpoint was completed" in err
    assert not list((tmp_path / "out" / "checkpoints").glob(".tmp-*"))


def test_readers_raise_only_their_own_error_on_any_bytes(tmp_path):
    """Fuzzing: whatever the bytes, a reader returns rows or raises DataFormatError (never another exception)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mtl_nlp.errors import DataFormatError
    from mtl_nlp.readers import READERS

    columns = {"conll": {"tokens": 0, "tags": 1}, "jsonl": {"text": "text", "label": "label"}, "csv": {"text": "text", "label": "label"},
               "tsv": {"text": "text", "label": "label"}, "sst": {"text": "sentence", "label": "label"}, "semeval": {}, "spert": {}}
    seeds = [b"text\tlabel\ngood\tpositive\n", b"-DOCSTART- O\n\nAnna B-PER\n", b'{"text": "a", "label": "b"}\n',
             (ASSETS / "semeval_sample.txt").read_bytes()[:300], b"[{\"tokens\": [\"a\"]}]"]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(sorted(READERS)), st.one_of(st.binary(max_size=200), st.sampled_from(seeds).flatmap(
        lambda seed: st.binary(max_size=20).map(lambda noise: seed[: len(noise)] + noise + seed[len(noise):]))))
    def check(fmt, content):
        path = tmp_path / f"fuzz.{fmt}"
        path.write_bytes(content)
        try:
            READERS[fmt](str(path), columns[fmt])
        except DataFormatError:
            pass

    check()


def test_pickled_encoder_weights_are_refused(setup, capsys, tiny_encoder_dir):
    import torch
    from safetensors.torch import load_file

    tmp_path, _, run = setup
    encoder = shutil.copytree(tiny_encoder_dir, tmp_path / "pickled")
    torch.save(load_file(encoder / "model.safetensors"), encoder / "pytorch_model.bin")  # how older models ship
    (encoder / "model.safetensors").unlink()
    assert list(encoder.glob("*.bin")) and not list(encoder.glob("*.safetensors"))
    run["encoder"] = str(encoder)
    err = _error(["train", _write_run(tmp_path, run)], capsys)
    assert "pickled .bin file, which mtl-nlp does not load" in err and "safetensors" in err


def test_trust_remote_code_must_be_a_boolean_and_is_off_by_default(setup, capsys, monkeypatch):
    import mtl_nlp.encoders as encoders

    tmp_path, _, run = setup
    seen = []
    original = encoders.AutoTokenizer.from_pretrained
    monkeypatch.setattr(encoders.AutoTokenizer, "from_pretrained", lambda *a, **k: seen.append(k) or original(*a, **k))
    run["train"]["max_steps"] = 1
    assert main(["train", _write_run(tmp_path, run)]) == 0
    assert seen and all(k.get("trust_remote_code") is False for k in seen)
    run["trust_remote_code"] = "yes"
    assert "trust_remote_code: must be true or false" in _error(["train", _write_run(tmp_path, run)], capsys)


def test_unknown_dropout_masks_name_the_choices(setup, capsys):
    _, _, run = setup
    run["train"]["dropout_masks"] = "quick"
    assert "dropout_masks: allowed: torch, fast; got 'quick'" in _train(setup, capsys)
