import pytest

from conftest import write_yaml
from mtl_nlp.config import ConfigError
from mtl_nlp.validation import validate_run

NER = """\
name: ner
type: token_clasification
format: conll
files: {train: ner/train.txt}
columns: {tokens: 0, tags: 1}
labels: [O, B-PER, I-PER]
metric: seqeval
"""


def _validate(tmp_path, task_text, run_text="tasks: [ner]\ndata_dir: {data}\n"):
    write_yaml(tmp_path / "ner.yaml", task_text)
    path = write_yaml(tmp_path / "runs" / "r.yaml", run_text.format(data=tmp_path / "data"))
    with pytest.raises(ConfigError) as info:
        validate_run(path)
    return str(info.value)


def test_misspelt_task_type_names_file_line_and_the_fix(tmp_path):
    message = _validate(tmp_path, NER)
    assert f"{tmp_path / 'ner.yaml'}:2 type: unknown task type 'token_clasification'; did you mean 'token_classification'?" in message


def test_missing_data_folder_is_one_problem_with_the_demo_hint(tmp_path):
    message = _validate(tmp_path, NER.replace("token_clasification", "token_classification"))
    assert "1 problem(s)" in message and f"data_dir: folder '{tmp_path / 'data'}' does not exist" in message
    assert "mtl-nlp demo-data demo_data" in message


def test_missing_data_file_is_reported_before_any_model_loads(tmp_path):
    (tmp_path / "data").mkdir()
    message = _validate(tmp_path, NER.replace("token_clasification", "token_classification"))
    assert f"ner.yaml:4 files.train: file {tmp_path / 'data' / 'ner/train.txt'} does not exist" in message
    assert "pass --data-dir" in message


def test_conll_needs_column_numbers_and_known_roles(tmp_path):
    text = NER.replace("token_clasification", "token_classification").replace("{tokens: 0, tags: 1}", "{token: 0}")
    message = _validate(tmp_path, text)
    assert "columns.token: token_classification has no column role 'token'; did you mean 'tokens'?" in message
    assert "conll files need a column number for 'tags'" in message


def test_relation_f1_requires_the_negative_label(tmp_path):
    text = (
        "name: ner\ntype: relation_classification\nformat: jsonl\nfiles: {train: r.jsonl}\n"
        "labels: [none, rel]\nmetric: relation_f1\n"
    )
    assert "negative_label: relation_f1 excludes the negative class" in _validate(tmp_path, text)


def test_joint_extraction_needs_its_entity_types(tmp_path):
    text = (
        "name: re\ntype: joint_entity_relation\nformat: spert\nfiles: {train: r.json}\n"
        "labels: [Work_For]\nmetric: conll04\n"
    )
    assert "entity_types: joint extraction tags the entity types it is given" in _validate(tmp_path, text)


def test_per_split_format_needs_a_known_reader_for_every_file(tmp_path):
    text = (NER.replace("token_clasification", "token_classification")
            .replace("format: conll", "format: {train: conl}")
            .replace("{train: ner/train.txt}", "{train: ner/train.txt, dev: ner/dev.txt}"))
    message = _validate(tmp_path, text)
    assert "format.train: unknown format 'conl'; did you mean 'conll'?" in message
    assert "format.dev: split 'dev' has a file but no format; add it to 'format'" in message
