import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_hub import FakeHub
from huggingface_hub import ModelCard

from mtl_nlp.errors import ConfigError
from mtl_nlp.hub import push
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.trainer import train
from mtl_nlp.validation import validate_run

TOKEN = "hf_TestTokenThatMustNeverBePrinted"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir, demo_dir):
    """A model folder from a short training run of the three demo tasks (LoRA adapters included)."""
    from conftest import REPO, write_yaml

    root = tmp_path_factory.mktemp("hub_run")
    run = write_yaml(root / "runs" / "run.yaml", {
        "encoder": str(tiny_encoder_dir),
        "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation", "sentiment")],
        "data_dir": str(demo_dir), "output_dir": str(root / "out"), "sampling": {"type": "round_robin"},
        "sharing": {"type": "lora", "r": 2},
        "train": {"max_steps": 4, "eval_every": 2, "batch_size": 4, "eval_batch_size": 8, "log_every": 1},
    })
    return train(validate_run(run))


def test_the_card_lists_every_task_metric_in_its_model_index(trained):
    card = ModelCard.load(trained / "README.md")  # huggingface_hub parses and checks the model-index
    metrics = json.loads((trained / "metrics.json").read_text())
    results = {r.dataset_name: r for r in card.data.eval_results}
    assert set(results) == {"demo_ner", "demo_relation", "demo_sentiment"}
    for task, scores in metrics["dev"].items():
        assert results[task].metric_value == round(100 * scores["primary"], 2) and results[task].dataset_split == "validation"
    assert results["demo_ner"].metric_type == "seqeval" and results["demo_ner"].task_type == "token-classification"
    assert card.data.library_name == "mtl-nlp"
    assert "![Dev metric of every task during training](dev_curves.png)" in card.text and (trained / "dev_curves.png").is_file()
    assert "| demo_relation | relation_classification |" in card.text and "works_for" in card.text
    assert "| sharing | type=lora, r=2 |" in card.text


def test_cli_push_uploads_every_file_and_never_shows_the_token(trained):
    with FakeHub() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0"}
        done = subprocess.run(
            [sys.executable, "-m", "mtl_nlp.cli", "push", str(trained), "me/tiny-mtl", "--commit-message", "first model"],
            env=env, capture_output=True, text=True, timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    local = {p.relative_to(trained).as_posix(): p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    assert hub.files["me/tiny-mtl"] == local
    assert {"README.md", "model.safetensors", "config.json", "adapters/demo_ner/adapter_model.safetensors"} <= set(local)
    assert [c["summary"] for c in hub.commits] == ["first model"]  # one commit for the whole folder
    assert all(c["authorization"] == f"Bearer {TOKEN}" for c in hub.calls if c["path"].startswith("/api/models/"))
    assert "pushed" in done.stdout


def test_model_push_to_hub_uploads_weights_config_card_and_tokenizer(trained, monkeypatch):
    import huggingface_hub.constants as constants
    from transformers import AutoTokenizer

    model = MultiTaskModel.from_pretrained(trained)
    with FakeHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        url = model.push_to_hub("me/pushed", token=TOKEN, revision="v1", tokenizer=AutoTokenizer.from_pretrained(trained))
    assert url.startswith(hub.url)
    files = hub.files["me/pushed"]
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json", "adapters/demo_ner/adapter_config.json"} <= set(files)
    assert [c["path"] for c in hub.commits] == ["/api/models/me/pushed/commit/v1"]


def test_a_refused_push_is_one_clear_error_without_the_token(trained, monkeypatch):
    import huggingface_hub.constants as constants

    with FakeHub(refuse_commits=True) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(ConfigError, match=r"to me/x failed \(HTTP 403\).*may write to it") as info:
            push(trained, "me/x", token=TOKEN)
    assert TOKEN not in str(info.value)
    with pytest.raises(ConfigError, match="not a model folder"):
        push(Path(trained).parent, "me/x", token=TOKEN)


def test_push_with_app_makes_a_gradio_space_that_serves_the_folder(trained):
    with FakeHub() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0"}
        done = subprocess.run([sys.executable, "-m", "mtl_nlp.cli", "push", str(trained), "me/tiny-space", "--with-app",
                               "--app-requirement", "mtl-nlp[app] @ git+https://example.org/mtl_nlp.git"],
                              env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    files = hub.files["me/tiny-space"]
    assert hub.repo_types["me/tiny-space"] == ("space", "gradio") and "a Gradio Space" in done.stdout
    assert {"app.py", "requirements.txt", "model.safetensors", "config.json", "examples.json"} <= set(files)
    assert 'serve(".", host="0.0.0.0")' in files["app.py"].decode()
    assert files["requirements.txt"].decode().splitlines() == ["torch", "mtl-nlp[app] @ git+https://example.org/mtl_nlp.git"]
    space = files["README.md"].decode()
    assert "sdk: gradio" in space and "app_file: app.py" in space and "| demo_relation | relation_classification |" in space
    assert not (trained / "app.py").exists()  # the model folder itself is left as it was
