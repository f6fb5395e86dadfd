"""A meta-learned starting point for new tasks (Reptile, Nichol et al. 2018), and adapting any model to a new task.

``meta_train``: each outer step draws one task with the run's sampler, trains the encoder and that task's head for
``meta.inner_steps`` batches with a fresh AdamW, then moves the encoder's starting weights a fraction ε of the way
towards the adapted ones: θ ← θ + ε (θ' − θ), ε annealed linearly from ``meta.step_size`` to 0. Heads keep their
adapted weights (each belongs to one task). The result is a normal model folder whose encoder is the initialisation.

``adapt``: fine-tune one new task from a model folder (plain encoder, multi-task model or meta-learned one) on
``examples`` training examples; any model folder works because ``load_encoder`` takes a multi-task model's encoder.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from mtl_nlp.config import RunConfig, TaskConfig, TrainConfig
from mtl_nlp.dropout import dropout_masks
from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.sampling import sampler_for
from mtl_nlp.tasks import build_task

logger = get_logger(__name__)


def reptile_update(start: dict[str, torch.Tensor], adapted: dict[str, torch.Tensor], step_size: float) -> dict[str, torch.Tensor]:
    """θ + ε (θ' − θ) for every tensor of ``start``."""
    return {name: value + step_size * (adapted[name] - value) for name, value in start.items()}


# What the Reptile loop does not apply: it trains one hard-shared encoder, unweighted, in full precision, with an
# inner optimizer restarted every outer step at a constant rate; the outer step size anneals instead of a schedule.
NOT_APPLIED = {
    "sharing": None,  # every key
    "weighting": None,
    "gradient": None,
    "train": ("warmup_ratio", "encoder_until", "ema_decay", "adapter_learning_rate", "gradient_accumulation_steps",
              "max_grad_norm", "mixed_precision", "checkpoint_every", "compile"),
}


def settings_not_applied(run: RunConfig) -> list[str]:
    """``section.key`` of every setting the run changes from its default that meta-train does not apply, so the log
    says so instead of the run silently training something else than its YAML describes."""
    out = []
    for section, keys in NOT_APPLIED.items():
        value, default = getattr(run, section), type(getattr(run, section))()
        names = keys or [f.name for f in dataclasses.fields(value)]
        out += [f"{section}.{name}" for name in names if getattr(value, name) != getattr(default, name)]
    return out + (["resume_from"] if run.resume_from else [])  # it starts from the encoder every time


def meta_train(run: RunConfig) -> Path:
    """Reptile over the run's tasks for ``train.max_steps`` outer steps; saves the model folder in output_dir."""
    from mtl_nlp.trainer import _loaders, _packing, make_optimizer, prepare_data, read_data, save_model

    accelerator, output_dir = Accelerator(), Path(run.output_dir)
    set_seed(run.train.seed)
    if ignored := settings_not_applied(run):
        logger.warning(f"{run.path}: meta-train does not apply {', '.join(ignored)} (Reptile trains one hard-shared "
                       "encoder at a constant inner rate; meta.step_size anneals instead); remove them or use mtl-nlp train")
    tasks = {t.name: build_task(t) for t in run.tasks}
    raw = read_data(run, tasks)
    encoder, tokenizer = load_encoder(run.encoder, run.trust_remote_code, run.attention)
    add_special_tokens(tokenizer, encoder, [tok for task in tasks.values() for tok in task.special_tokens()])
    data = prepare_data(raw, tasks, tokenizer, accelerator)
    model = MultiTaskModel.from_encoder(encoder, run.tasks).to(accelerator.device).train()
    loaders, _ = _loaders(run, tasks, data, tokenizer, _packing(run, model, tasks, data, tokenizer))
    t, steps = run.train, run.train.max_steps
    sampler = sampler_for(run.sampling, {n: len(d.train) for n, d in data.items()}, seed=t.seed, total_steps=steps)
    batches = {name: endless(loader) for name, loader in loaders.items()}
    started, counts = time.perf_counter(), dict.fromkeys(tasks, 0)
    for outer in tqdm(range(steps), desc="meta-training", disable=not accelerator.is_local_main_process):
        task = next(sampler)  # one task for the whole inner loop
        start = {n: p.detach().clone() for n, p in model.encoder.named_parameters()}
        optimizer = make_optimizer(model, t.learning_rate, t.head_learning_rate or t.learning_rate, t.weight_decay,
                                   fused=t.optimizer == "adamw_fused", layer_lr_decay=t.decay_for(task))
        for _ in range(run.meta.inner_steps):
            batch = next(batches[task])
            batch = {k: v.to(accelerator.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            labels = batch.pop("labels")
            with dropout_masks(t.dropout_masks):
                logits = model(task=task, **batch).logits
            tasks[task].loss(logits, labels).backward()
            optimizer.step()
            optimizer.zero_grad()
            counts[task] += 1
        step_size = run.meta.step_size * (1 - outer / steps)
        adapted = {n: p.detach() for n, p in model.encoder.named_parameters()}
        with torch.no_grad():
            for name, value in reptile_update(start, adapted, step_size).items():
                model.encoder.get_parameter(name).copy_(value)
    save_model(model, tokenizer, accelerator, output_dir)
    summary = {"outer_steps": steps, "inner_steps": run.meta.inner_steps, "batches_per_task": counts,
               "train_seconds": time.perf_counter() - started, "run": json.loads(json.dumps(dataclasses.asdict(run), default=str))}
    (output_dir / "meta.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.info(f"meta-learned initialisation saved in {output_dir}")
    return output_dir


def endless(loader):
    """The loader's batches, epoch after epoch (a new shuffle each time)."""
    while True:
        yield from loader


def adapt_run(model_dir: str, task: TaskConfig, *, examples: int | None, data_dir: str, output_dir: str,
              train: TrainConfig) -> RunConfig:
    """The run that fine-tunes ``task`` alone from ``model_dir``'s encoder on ``examples`` training examples."""
    return RunConfig(tasks=[task], encoder=model_dir, data_dir=data_dir, output_dir=output_dir,
                     train=dataclasses.replace(train, max_train_examples=examples))
