import json

import torch
from accelerate import Accelerator

from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.tasks import build_task
from mtl_nlp.trainer import fit, make_optimizer, prepare_data, read_data
from mtl_nlp.validation import validate_run


def test_two_steps_change_every_trainable_parameter(tiny_run):
    run = validate_run(tiny_run(train={"max_steps": 2, "eval_every": 2, "learning_rate": 1e-3}))
    run.tasks = [t for t in run.tasks if t.name != "demo_relation"]  # two tasks, round robin: each head gets a step
    accelerator = Accelerator(cpu=True)
    encoder, tokenizer = load_encoder(run.encoder)
    tasks = {t.name: build_task(t) for t in run.tasks}
    data = prepare_data(read_data(run, tasks), tasks, tokenizer, accelerator)
    model = MultiTaskModel.from_encoder(encoder, run.tasks)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    out = fit(run, accelerator, model, tokenizer, tasks, data)
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p.detach(), before[n])]
    assert unchanged == []
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 2 and set(summary["dev"]) == {"demo_ner", "demo_sentiment"}


def test_heads_may_learn_faster_and_norms_skip_weight_decay(tiny_encoder_dir):
    from mtl_nlp.config import TaskConfig

    encoder, _ = load_encoder(str(tiny_encoder_dir))
    task = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy", files={"train": "x"})
    optimizer = make_optimizer(MultiTaskModel.from_encoder(encoder, [task]), 1e-5, 1e-3, 0.01)
    groups = {(g["lr"], g["weight_decay"]): len(g["params"]) for g in optimizer.param_groups}
    assert set(groups) == {(1e-5, 0.01), (1e-5, 0.0), (1e-3, 0.01), (1e-3, 0.0)}
    assert groups[(1e-3, 0.01)] == 1  # the head's weight matrix


def test_marker_tokens_grow_the_embeddings(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    size = len(tokenizer)
    assert add_special_tokens(tokenizer, encoder, ["[E1]", "[/E1]"]) == 2
    assert encoder.get_input_embeddings().weight.shape[0] == size + 2


def test_gradient_accumulation_counts_optimizer_steps(tiny_run):
    from mtl_nlp.trainer import train

    run = validate_run(tiny_run(train={"max_steps": 3, "eval_every": 3, "gradient_accumulation_steps": 2}))
    summary = json.loads((train(run) / "metrics.json").read_text())
    assert summary["steps"] == 3 and summary["best_step"] == 3 and summary["eval_seconds"] > 0
