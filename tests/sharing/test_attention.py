import json

import torch

from mtl_nlp.sharing.deltas import run_with
from mtl_nlp.trainer import train
from mtl_nlp.validation import validate_run
from sharing.helpers import batches, perturb, tiny_model


def test_gates_mix_shared_and_task_weights_as_the_article_writes(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="attention", r=4, layers=[1, 2], penalty_weight=0.3)
    perturb(model)
    model.eval()
    batch = batches(tokenizer)["ner"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    sharing, k = model.sharing, model.sharing.tasks.index("ner")
    gates = sharing.gates()[k].detach()
    # W_k = a W_s + (1 - a)(W_s + dW_k), written out for every adapted weight
    layer_of = {n: int(n.split(".")[2]) for n in sharing.deltas.names}
    weights = {
        n: gates[layer_of[n]] * model.encoder.get_parameter(n) + (1 - gates[layer_of[n]]) * (model.encoder.get_parameter(n) + sharing.deltas.delta("ner", n))
        for n in sharing.deltas.names
    }
    expected = run_with(model.encoder, weights, inputs).last_hidden_state
    torch.testing.assert_close(model.encode("ner", **batch), expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        sharing.gate_logits[k] = 50.0  # a = 1: the task reads the shared weights alone
    torch.testing.assert_close(model.encode("ner", **batch), model.encoder(**inputs).last_hidden_state, rtol=0, atol=1e-6)
    model.train()
    torch.testing.assert_close(sharing.penalty(), 0.3 * sharing.gates().pow(2).sum())


def test_layer_mix_can_read_any_layer(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="attention", layer_mix=True)
    model.eval()
    batch = batches(tokenizer)["sent"]
    full = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    with torch.no_grad():
        model.sharing.mix_logits.fill_(-50.0)
        model.sharing.mix_logits[:, 1] = 50.0  # all weight on layer 1's output
    torch.testing.assert_close(model.encode("sent", **batch), full.hidden_states[1], rtol=0, atol=1e-5)


def test_gates_are_logged_and_written_to_metrics(tiny_run):
    run = validate_run(tiny_run(sharing={"type": "attention", "r": 2, "penalty_weight": 1.0}, train={"learning_rate": 1e-2}))
    summary = json.loads((train(run) / "metrics.json").read_text())
    gates = {k: v for k, v in summary["sharing"].items() if k.startswith("sharing/gate/")}
    assert len(gates) == 3 * 2  # three tasks, two layers
    assert all(0 < v < 0.5 for v in gates.values())  # the a^2 penalty has pushed every gate below its start, 0.5
