import json

import pytest
import torch
from accelerate import Accelerator
from peft import PeftModel
from transformers import AutoConfig, AutoModel

from mtl_nlp.config import SharingConfig
from mtl_nlp.encoders import add_special_tokens, load_encoder, resolve_encoder
from mtl_nlp.errors import ConfigError
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.sharing.lora import SHARED_ADAPTER, LoraSharing
from mtl_nlp.tasks import build_task
from mtl_nlp.trainer import fit, make_optimizer, prepare_data, read_data, train
from mtl_nlp.validation import validate_run
from sharing.helpers import batches, perturb, tiny_model


def test_r8_on_query_and_value_trains_under_two_percent_of_the_default_encoder_per_task():
    config = AutoConfig.from_pretrained(resolve_encoder("all-MiniLM-L6-v2"))
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    base = sum(p.numel() for p in encoder.parameters())
    LoraSharing(SharingConfig(type="lora", r=8, target_modules=["query", "value"]), encoder, ["a", "b"])
    per_task = sum(p.numel() for n, p in encoder.named_parameters() if ".a." in n)
    assert per_task == config.num_hidden_layers * 2 * 8 * (config.hidden_size + config.hidden_size)
    assert per_task / base <= 0.02


def test_a_task_may_have_its_own_adapter_shape(tmp_path):
    """A narrow adapter for one task beside wide ones: each task gets its own rank and modules, and PEFT's saved
    config says so."""
    config = AutoConfig.from_pretrained(resolve_encoder("all-MiniLM-L6-v2"))
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    settings = SharingConfig(type="lora", r=16, target_modules=["query", "value", "intermediate.dense"],
                             task_adapters={"b": {"r": 2, "lora_alpha": 4, "target_modules": ["query"]}})
    sharing = LoraSharing(settings, encoder, ["a", "b"])
    count = {t: sum(p.numel() for n, p in encoder.named_parameters() if f".{t}." in n) for t in ("a", "b")}
    h, layers = config.hidden_size, config.num_hidden_layers
    assert count["a"] == layers * 16 * (2 * (h + h) + h + config.intermediate_size)
    assert count["b"] == layers * 2 * (h + h)
    sharing.save_adapters(encoder, str(tmp_path))
    saved = {t: json.loads((tmp_path / "adapters" / t / "adapter_config.json").read_text()) for t in ("a", "b")}
    assert (saved["a"]["r"], saved["b"]["r"], saved["b"]["target_modules"]) == (16, 2, ["query"])
    inputs = {"input_ids": torch.tensor([[101, 2000, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    assert sharing.encode(encoder, "b", inputs).shape == (1, 3, h)


def test_a_module_name_no_layer_has_is_a_config_error_naming_the_key():
    config = AutoConfig.from_pretrained(resolve_encoder("all-MiniLM-L6-v2"))
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    settings = SharingConfig(type="lora", task_adapters={"b": {"target_modules": ["quary"]}})
    with pytest.raises(ConfigError, match=r"sharing\.task_adapters\.b\.target_modules: .*quary.* end in dense, key, query, value"):
        LoraSharing(settings, encoder, ["a", "b"])


def test_frozen_base_stays_bit_identical_while_adapters_and_heads_train(tiny_run):
    run = validate_run(tiny_run(sharing={"type": "lora", "r": 4, "train_encoder": False}, train={"learning_rate": 1e-2}))
    accelerator = Accelerator(cpu=True)
    encoder, tokenizer = load_encoder(run.encoder)
    tasks = {t.name: build_task(t) for t in run.tasks}
    add_special_tokens(tokenizer, encoder, [tok for task in tasks.values() for tok in task.special_tokens()])
    data = prepare_data(read_data(run, tasks), tasks, tokenizer, accelerator)
    model = MultiTaskModel.from_encoder(encoder, run.tasks, run.sharing)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit(run, accelerator, model, tokenizer, tasks, data)
    after = dict(model.named_parameters())
    base = [n for n in before if n.startswith("encoder.") and ".lora_" not in n]
    assert base and all(torch.equal(after[n], before[n]) for n in base)
    for task in tasks:  # round robin over 4 steps: every task's adapter and head moved
        assert not torch.equal(after[f"encoder.encoder.layer.0.attention.self.query.lora_B.{task}.weight"],
                               before[f"encoder.encoder.layer.0.attention.self.query.lora_B.{task}.weight"])
        assert any(not torch.equal(after[n], before[n]) for n in before if n.startswith(f"heads.{task}."))


def test_adapters_load_with_peft_on_the_plain_encoder(tiny_encoder_dir, tmp_path):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="lora", r=4)
    perturb(model)
    model.eval()
    model.save_pretrained(tmp_path)
    batch = batches(tokenizer)["ner"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    for task in ("ner", "sent"):
        plain = AutoModel.from_pretrained(tiny_encoder_dir, add_pooling_layer=False)
        peft_model = PeftModel.from_pretrained(plain, tmp_path / "adapters" / task).eval()
        torch.testing.assert_close(peft_model(**inputs).last_hidden_state, model.encode(task, **batch), rtol=0, atol=1e-6)


def test_the_shared_adapter_sits_under_every_task(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="lora", r=4, shared_adapter=True)
    model.eval()
    batch = batches(tokenizer)["sent"]
    before = {t: model.encode(t, **batch) for t in ("ner", "sent")}
    with torch.no_grad():
        for name, param in model.encoder.named_parameters():
            if f"lora_B.{SHARED_ADAPTER}." in name:
                param.add_(0.5)
    for task in ("ner", "sent"):
        assert not torch.allclose(model.encode(task, **batch), before[task])


def test_a_task_with_layer_mix_reads_a_learned_mix_of_the_layers_under_its_own_adapter(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="lora", r=4, train_encoder=True, task_adapters={"sent": {"layer_mix": True}})
    perturb(model)
    model.eval()
    sharing, batch = model.sharing, batches(tokenizer)["sent"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    assert set(sharing.mix_logits) == {"sent"}  # ner keeps the top layer and gets no mix
    with torch.no_grad():
        sharing.mix_logits["sent"].fill_(-50.0)
        sharing.mix_logits["sent"][2] = 50.0  # all weight on layer 2's output
        sharing.mix_scale["sent"].fill_(1.5)
    model.encode("ner", **batch)  # switches ner's adapter on: sent's encode must switch its own back
    states = model.encode("sent", **batch)
    full = model.encoder(**inputs, output_hidden_states=True)  # sent's adapter is the active one now
    torch.testing.assert_close(states, 1.5 * full.hidden_states[2], rtol=0, atol=1e-5)
    assert not torch.allclose(states, model.encode("ner", **batch))
    with torch.no_grad():
        sharing.mix_logits["sent"].zero_()
        sharing.mix_scale["sent"].fill_(1.0)
    uniform = model.encode("sent", **batch)
    full = model.encoder(**inputs, output_hidden_states=True)
    torch.testing.assert_close(uniform, torch.stack(full.hidden_states).mean(0), rtol=0, atol=1e-5)
    # the mix is one of the task's own parameters: the adapters' rate, no weight decay, not stopped with the encoder
    groups = make_optimizer(model, 1e-4, 1e-3, 0.01, adapter_learning_rate=5e-3).param_groups
    for param in (sharing.mix_logits["sent"], sharing.mix_scale["sent"]):
        group = next(g for g in groups if any(p is param for p in g["params"]))
        assert (group["lr"], group["weight_decay"], group["shared"]) == (5e-3, 0.0, False)


def test_the_layer_mix_trains_and_is_reported(tiny_run):
    run = validate_run(tiny_run(sharing={"type": "lora", "r": 4, "train_encoder": True,
                                         "task_adapters": {"demo_sentiment": {"layer_mix": True}}},
                                train={"learning_rate": 1e-4, "adapter_learning_rate": 1e-2}))
    out = train(run)
    mix = {k: v for k, v in json.loads((out / "metrics.json").read_text())["sharing"].items() if k.startswith("sharing/layer_mix/")}
    assert set(mix) == {f"sharing/layer_mix/demo_sentiment/layer{n}" for n in range(3)}  # embeddings and 2 layers
    assert sum(mix.values()) == pytest.approx(1.0) and any(abs(v - 1 / 3) > 1e-4 for v in mix.values())
