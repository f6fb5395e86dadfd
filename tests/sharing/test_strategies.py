"""Every strategy, the same checks: trains from YAML, saves, reloads with identical logits, and is served."""

import json

import pytest
import torch

from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.predict import Predictor
from mtl_nlp.trainer import train
from mtl_nlp.validation import validate_run
from sharing.helpers import batches, perturb, tiny_model

STRATEGIES = {
    "hard": {"type": "hard"},
    "lora": {"type": "lora", "r": 4, "shared_adapter": True},
    "lora_per_task": {"type": "lora", "r": 4, "task_adapters": {"sent": {"r": 2, "target_modules": ["query"], "layer_mix": True}}},
    "soft": {"type": "soft", "penalty_weight": 0.1},
    "soft_full": {"type": "soft", "copy": "full", "penalty_weight": 0.1, "layers": [2]},
    "hierarchical": {"type": "hierarchical", "task_layers": {"ner": 1}},
    "attention": {"type": "attention", "r": 4, "penalty_weight": 0.01, "layer_mix": True},
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_save_and_reload_give_identical_logits(strategy, tiny_encoder_dir, tmp_path):
    model, tokenizer = tiny_model(tiny_encoder_dir, **STRATEGIES[strategy])
    perturb(model)
    model.eval()
    data = batches(tokenizer)
    before = {name: model(task=name, **batch).logits for name, batch in data.items()}
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    assert type(loaded.sharing) is type(model.sharing)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for name, batch in data.items():
        torch.testing.assert_close(loaded(task=name, **batch).logits, before[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize("strategy", ["lora", "soft", "hierarchical", "attention"])
def test_tasks_see_different_encoders_unless_hard(strategy, tiny_encoder_dir):
    """The sharing is real: the same text gives task-dependent hidden states once task parameters have moved."""
    model, tokenizer = tiny_model(tiny_encoder_dir, **STRATEGIES[strategy])
    perturb(model)
    model.eval()
    batch = batches(tokenizer)["sent"]
    assert not torch.allclose(model.encode("ner", **batch), model.encode("sent", **batch))
    hard, _ = tiny_model(tiny_encoder_dir)
    hard.eval()
    assert torch.equal(hard.encode("ner", **batch), hard.encode("sent", **batch))


@pytest.mark.parametrize("strategy", ["lora", "soft", "hierarchical", "attention"])
def test_each_strategy_trains_from_yaml_and_is_served(strategy, tiny_run):
    settings = dict(STRATEGIES[strategy])
    if strategy == "hierarchical":
        settings["task_layers"] = {"demo_ner": 1}
    run = validate_run(tiny_run(sharing=settings, train={"learning_rate": 1e-3}))
    out = train(run)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 4 and set(summary["dev"]) == {"demo_ner", "demo_relation", "demo_sentiment"}
    assert summary["peak_memory_bytes"] > 0
    assert MultiTaskModel.from_pretrained(out).config.sharing_config().type == settings["type"]
    answer = Predictor(str(out))(["Anna Smith joined <e1:PER>Acme</e1> in <e2:LOC>Paris</e2> ."])[0]
    assert {"demo_ner", "demo_relation", "demo_sentiment"} <= set(answer)
    assert answer["demo_sentiment"]["label"] in ("negative", "positive")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_reloading_keeps_what_the_strategy_froze_frozen(strategy, tiny_encoder_dir, tmp_path):
    model, tokenizer = tiny_model(tiny_encoder_dir, **STRATEGIES[strategy])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    model.save_pretrained(tmp_path)
    loaded = MultiTaskModel.from_pretrained(tmp_path)
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == trainable
    assert (len(trainable) < len(dict(model.named_parameters()))) == (strategy in ("lora", "lora_per_task", "soft", "soft_full"))
