import json
import shutil
from pathlib import Path

from conftest import REPO, write_yaml
from mtl_nlp.bench.serving import build_models, measure_serving, semeval_texts, serving_table

ASSETS = REPO / "tests" / "assets"

SEMEVAL = """1\t"The <e1>author</e1> of a keygen uses a <e2>disassembler</e2> to look at the raw code."
Instrument-Agency(e2,e1)
Comment:

2\t"A <e1>misty ridge</e1> uprises from the <e2>surge</e2>."
Other
Comment:

3\t"The <e1>student</e1> <e2>association</e2> is the voice of the students."
Member-Collection(e1,e2)
Comment:
"""


def test_semeval_texts_keep_their_markup(tmp_path):
    (tmp_path / "dev.txt").write_text(SEMEVAL)
    assert semeval_texts(tmp_path / "dev.txt", 2) == [
        "The <e1>author</e1> of a keygen uses a <e2>disassembler</e2> to look at the raw code.",
        "A <e1>misty ridge</e1> uprises from the <e2>surge</e2>.",
    ]


def benchmark_data(root):
    """The shipped sample of each benchmark where its task YAML looks for its files, and SemEval dev texts."""
    for source, target in (("conll_sample.txt", "conll2003/train.txt"), ("conll_sample.txt", "conll2003/valid.txt"),
                           ("sst_sample.txt", "sst2/stsa.binary.train"), ("sst_sample.txt", "sst2/stsa.binary.dev"),
                           ("spert_sample.json", "conll04/conll04_train.json"), ("spert_sample.json", "conll04/conll04_dev.json")):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ASSETS / source, root / target)
    (root / "semeval2010_task8").mkdir(parents=True, exist_ok=True)
    (root / "semeval2010_task8" / "dev.txt").write_text(SEMEVAL)
    return root


def serving_setup(tmp_path, tiny_encoder_dir) -> tuple[str, list[str], Path]:
    """(run YAML, overrides, data folder) of the three-task serving benchmark on the tiny encoder."""
    tasks = [str(REPO / "task_configs" / f"{name}.yaml") for name in ("conll2003", "sst2", "conll04")]
    run = write_yaml(tmp_path / "run.yaml", {"encoder": str(tiny_encoder_dir), "tasks": tasks, "train": {"batch_size": 2}})
    data = benchmark_data(tmp_path / "data")
    return str(run), [f"data_dir={data}", "task.conll2003.max_length=64"], data  # the tiny encoder has 128 positions


def serving(tmp_path, tiny_encoder_dir, train_steps):
    run, overrides, data = serving_setup(tmp_path, tiny_encoder_dir)
    return measure_serving(run, overrides, REPO / "task_configs", data, texts=3, rounds=1, batch_size=2,
                           train_steps=train_steps, out_dir=tmp_path / "out")


def test_every_system_serves_every_text_in_its_own_process(tmp_path, tiny_encoder_dir):
    result = serving(tmp_path, tiny_encoder_dir, train_steps=0)
    assert result["texts"] == 3 and set(result["systems"]) == {"ours_joint", "ours_marked", "baseline"}
    assert all(r["texts"] == 3 and r["seconds"] > 0 and r["import_bytes"] >= 0 for r in result["rounds_raw"][0].values())
    marked = result["systems"]["ours_marked"]
    assert marked["relations_per_text"] == 1  # the marked pair of every text is classified
    joint = result["systems"]["ours_joint"]
    assert joint["speed_ratio"] == joint["speed_ratio_per_round"][0] > 0 and joint["memory_ratio"] > 0
    text = serving_table(result)
    assert "three Transformers models, one after another" in text and f"{joint['speed_ratio']:.2f}" in text
    assert "untrained heads" in text


def test_the_joint_model_is_trained_before_it_is_timed(tmp_path, tiny_encoder_dir):
    result = serving(tmp_path, tiny_encoder_dir, train_steps=3)
    metrics = json.loads((tmp_path / "out" / "models" / "ours_joint" / "metrics.json").read_text())
    assert metrics["steps"] == 3 and [t["name"] for t in metrics["run"]["tasks"]] == ["conll2003", "sst2", "conll04"]
    assert result["joint_train_steps"] == 3 and "trained 3 steps first" in serving_table(result)
    weights = tmp_path / "out" / "models" / "ours_joint" / "model.safetensors"
    before = weights.stat().st_mtime
    run, overrides, _ = serving_setup(tmp_path, tiny_encoder_dir)
    build_models(run, overrides, REPO / "task_configs", tmp_path / "out" / "models", 3)  # as a second benchmark run would
    assert weights.stat().st_mtime == before  # the trained model was reused
