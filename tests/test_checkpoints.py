"""Checkpoints and exact resume: runs killed with SIGKILL at chosen points (MTL_NLP_FAULT) and resumed end with the
weights and metrics.json records of an uninterrupted run; SIGTERM stops gracefully."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from conftest import REPO
from mtl_nlp.checkpoints import StopRequests, checkpoints, resolve
from mtl_nlp.errors import ConfigError

SETTINGS = {
    "sampling": {"type": "temperature", "temperature": 2.0},
    "weighting": {"type": "dwa", "period": 3},
    "train": {"max_steps": 8, "eval_every": 4, "checkpoint_every": 2, "keep_checkpoints": 2, "log_every": 1,
              "batch_size": 4, "eval_batch_size": 8, "learning_rate": 1e-3},
}


def _train(run, *overrides, fault=None, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MTL_NLP_FAULT", None)
    if fault:
        env["MTL_NLP_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "mtl_nlp.cli", "train", str(run), *overrides], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _record(out):
    metrics = json.loads((out / "metrics.json").read_text())
    weights = load_file(out / "checkpoints" / "step-8" / "model.safetensors")
    return weights, {k: metrics[k] for k in ("history", "train_losses", "best_step", "dev", "weighting")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_encoder_dir, demo_dir):
    from conftest import write_yaml

    root = tmp_path_factory.mktemp("resume")

    def make(name: str):
        return write_yaml(root / name / "run.yaml", {
            "encoder": str(tiny_encoder_dir),
            "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation", "sentiment")],
            "data_dir": str(demo_dir), "output_dir": str(root / name / "out"), **SETTINGS,
        })

    run = make("reference")
    done = _train(run)
    assert done.returncode == 0, done.stderr
    return make, _record(root / "reference" / "out")


@pytest.mark.parametrize("fault", ["step:5", "eval:4", "save:6"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(reference, fault):
    make, (weights, records) = reference
    run = make(fault.replace(":", "-"))
    out = run.parent / "out"
    killed = _train(run, fault=fault)
    assert killed.returncode == -signal.SIGKILL
    if fault == "save:6":
        assert (out / "checkpoints" / ".tmp-step-6").is_dir()  # the torn save is not taken for a checkpoint
    assert not (out / "metrics.json").exists()
    resumed = _train(run, "resume_from=latest")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    got_weights, got_records = _record(out)
    assert got_weights.keys() == weights.keys()
    assert all(got_weights[k].equal(weights[k]) for k in weights), "weights differ from the uninterrupted run"
    assert got_records == records
    assert [p.name for p in checkpoints(out / "checkpoints")] == ["step-6", "step-8"]
    assert not list((out / "checkpoints").glob(".tmp-*"))


def test_sigterm_saves_a_checkpoint_and_exits_cleanly_with_how_to_resume(reference):
    make, (weights, _) = reference
    run = make("sigterm")
    out = run.parent / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MTL_NLP_FAULT", None)
    # A budget no machine trains through in the seconds before the signal (a fast CPU ran 400 steps in under two).
    overrides = ["train.max_steps=100000", "train.checkpoint_every=0", "train.eval_every=100000"]
    process = subprocess.Popen([sys.executable, "-m", "mtl_nlp.cli", "train", str(run), *overrides], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not list((out / "runs").rglob("events*")) and not list(out.rglob("events.out*")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # well into training
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr
    assert "stopped by SIGTERM at step" in stderr and "resume_from=latest" in stderr
    (saved,) = checkpoints(out / "checkpoints")
    step = int(saved.name.split("-")[1])
    assert 0 < step < 100000 and f"at step {step} of 100000" in stderr


def test_resume_from_a_folder_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is not a checkpoint folder"):
        resolve(str(tmp_path), tmp_path / "checkpoints")
    assert resolve("latest", tmp_path / "checkpoints") is None


def test_stop_requests_restore_the_previous_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        assert stop.requested == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_killed_length_grouped_run_resumes_exactly_too(reference):
    make, _ = reference
    run = make("grouped")
    out = run.parent / "out"
    uninterrupted = make("grouped-reference")
    assert _train(uninterrupted, "train.group_by_length=true").returncode == 0
    assert _train(run, "train.group_by_length=true", fault="step:5").returncode == -signal.SIGKILL
    assert _train(run, "train.group_by_length=true", "resume_from=latest").returncode == 0
    (weights, records), (got, got_records) = _record(uninterrupted.parent / "out"), _record(out)
    assert all(got[k].equal(weights[k]) for k in weights) and got_records == records


def test_a_killed_run_with_a_moving_average_resumes_it_exactly(reference):
    """The average lives beside the model in each checkpoint: the kept (averaged) weights match an uninterrupted run.
    The encoder stops at step 4 (train.encoder_until) and the kill comes at 7: the resumed run keeps it stopped."""
    make, _ = reference
    run, uninterrupted = make("averaged"), make("averaged-reference")
    options = ("train.ema_decay=0.6", "train.warmup_ratio=0.25", "train.encoder_until=0.5")
    assert _train(uninterrupted, *options).returncode == 0
    assert _train(run, *options, fault="step:7").returncode == -signal.SIGKILL
    assert _train(run, *options, "resume_from=latest").returncode == 0
    kept, got = (load_file(path.parent / "out" / "model.safetensors") for path in (uninterrupted, run))
    assert kept.keys() == got.keys() and all(got[k].equal(kept[k]) for k in kept)
    live = load_file(run.parent / "out" / "checkpoints" / "step-8" / "model.safetensors")
    assert not all(live[k].equal(got[k]) for k in got)  # what was kept is the average, not the last weights
    assert _record(run.parent / "out")[1] == _record(uninterrupted.parent / "out")[1]

