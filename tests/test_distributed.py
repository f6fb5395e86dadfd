"""Two CPU processes (gloo) through torchrun: training runs every head without hanging, and evaluation gathers an
uneven dev split into exactly the metrics one process gives, the windows of long sentences merged across batches."""

import json
import os
import subprocess
import sys

from conftest import REPO, write_yaml

SCRIPTS = REPO / "scripts"


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_train_and_evaluate_like_one(tmp_path, tiny_encoder_dir):
    from mtl_nlp.demo_data import write_demo_data

    data = write_demo_data(tmp_path / "data", seed=1, train_size=48, dev_size=17)  # 17: uneven over two processes
    run = write_yaml(tmp_path / "run.yaml", {
        "encoder": str(tiny_encoder_dir),
        "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation", "sentiment")],
        "data_dir": str(data), "output_dir": str(tmp_path / "out"), "sampling": {"type": "temperature"},
        "train": {"max_steps": 6, "eval_every": 3, "batch_size": 4, "eval_batch_size": 8, "log_every": 1},
        "task": {"demo_ner": {"max_length": 12}},  # most demo sentences need two or more windows
    })
    trained = _torchrun(str(SCRIPTS / "train.py"), str(run))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "demo_ner/dev: " in trained.stderr and "overlapping windows" in trained.stderr
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["steps"] == 6 and set(summary["dev"]) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert summary["processes"] == 2  # one gloo group, not two processes each training alone
    assert trained.stdout.count("best dev step") == 1  # one process reports

    two = _torchrun(str(SCRIPTS / "evaluate_model.py"), str(tmp_path / "out"), "--data-dir", str(data), "--output", str(tmp_path / "two.json"))
    assert two.returncode == 0, two.stderr[-3000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, str(SCRIPTS / "evaluate_model.py"), str(tmp_path / "out"), "--data-dir", str(data),
                          "--output", str(tmp_path / "one.json")], env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert json.loads((tmp_path / "two.json").read_text()) == json.loads((tmp_path / "one.json").read_text())
    confusion = json.loads((tmp_path / "two.json").read_text())["demo_sentiment"]["confusion"]
    assert sum(map(sum, confusion["counts"])) == 17  # no example duplicated or dropped at the uneven end


def test_pcgrad_under_two_processes_stops_with_a_clear_error(tmp_path, tiny_encoder_dir):
    from mtl_nlp.demo_data import write_demo_data

    data = write_demo_data(tmp_path / "data", seed=1, train_size=16, dev_size=8)
    run = write_yaml(tmp_path / "run.yaml", {
        "encoder": str(tiny_encoder_dir), "tasks": [str(REPO / "task_configs" / "demo_sentiment.yaml")],
        "data_dir": str(data), "output_dir": str(tmp_path / "out"), "sampling": {"type": "every_task"},
        "gradient": {"type": "pcgrad"}, "train": {"max_steps": 2, "batch_size": 4},
    })
    done = _torchrun(str(SCRIPTS / "train.py"), str(run))
    assert done.returncode != 0 and "error: gradient.type: pcgrad runs on one process" in done.stderr
