"""Shared fixtures: a tiny random BERT saved as a model folder, a tiny demo corpus, and offline mode everywhere."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

ASSETS = Path(__file__).parent / "assets"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _isolated_datasets_cache(tmp_path_factory, monkeypatch):
    """Each session writes its Arrow cache under pytest's temp folder, never into the user's cache."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_datasets"))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from transformers import BertTokenizer

    words = (ASSETS / "vocab.txt").read_text().split()
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 2-layer, 32-wide random BERT with the test vocabulary, saved like any Hub model folder."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=128,
    )
    out = tmp_path_factory.mktemp("tiny_bert")
    BertModel(config).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from mtl_nlp.demo_data import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo_data"), seed=1, train_size=48, dev_size=16)


def write_yaml(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_run(tmp_path, tiny_encoder_dir, demo_dir):
    """A run YAML over the three demo task configs on the tiny encoder; returns a function taking extra keys."""

    def make(**changes) -> Path:
        run = {
            "encoder": str(tiny_encoder_dir),
            "tasks": [str(REPO / "task_configs" / f"demo_{t}.yaml") for t in ("ner", "relation", "sentiment")],
            "data_dir": str(demo_dir),
            "output_dir": str(tmp_path / "out"),
            "sampling": {"type": "round_robin"},
            "train": {"max_steps": 4, "eval_every": 2, "batch_size": 4, "eval_batch_size": 8, "log_every": 1},
        }
        for key, value in changes.items():
            run[key] = {**run[key], **value} if isinstance(value, dict) and key in run else value
        return write_yaml(tmp_path / "runs" / "run.yaml", run)

    return make


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> tuple[Path, Path]:
    """(model folder, data folder) of the README's main job on the real default encoder: slow tests share one run."""
    from mtl_nlp.cli import main
    from mtl_nlp.demo_data import write_demo_data

    root = tmp_path_factory.mktemp("readme_demo")
    data = write_demo_data(root / "demo_data")
    out = root / "out"
    assert main(["train", str(REPO / "task_configs" / "runs" / "demo.yaml"), "--data-dir", str(data), f"output_dir={out}"]) == 0
    return out, data


@pytest.fixture
def jemalloc() -> str:
    """The installed jemalloc library; skipped where there is none, except when MTL_NLP_REQUIRE_JEMALLOC=1 (set by
    .ci/run, which installs it)."""
    from mtl_nlp.allocator import find_jemalloc

    library = find_jemalloc()
    if library is None:
        if os.environ.get("MTL_NLP_REQUIRE_JEMALLOC") == "1":
            pytest.fail("MTL_NLP_REQUIRE_JEMALLOC=1 but jemalloc is not installed (apt-get install libjemalloc2)")
        pytest.skip("no jemalloc here (apt-get install libjemalloc2); .ci/run installs it")
    return library
