"""Scoring a multi-task model on every task's split: decode per batch, gather across processes, then score."""

from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from mtl_nlp import metrics
from mtl_nlp.launch import cpu_processes
from mtl_nlp.tasks import Task
from mtl_nlp.windows import group, numbers


def pad_to(prediction: object, reference: object) -> object:
    """Words that got no prediction count as 'O', so gold entities there are misses (scored, never dropped)."""
    if isinstance(prediction, list) and isinstance(reference, list) and len(prediction) < len(reference):
        return prediction + ["O"] * (len(reference) - len(prediction))
    return prediction


@torch.no_grad()
def predict_task(model: nn.Module, task_name: str, task: Task, loader: DataLoader, accelerator: Accelerator) -> list:
    """One prediction for every example of ``loader``, in order, gathered from all processes; the windows of a long
    example are merged (they may sit in different batches)."""
    rows: list = []
    for batch in loader:
        pieces = task.decode(model(task=task_name, **batch).logits, batch)
        rows += accelerator.gather_for_metrics(list(zip(numbers(batch, len(pieces)), pieces)), use_gather_object=True)
    return [task.merge(pieces) for pieces in group(rows)]


def score_task(model: nn.Module, name: str, task: Task, loader: DataLoader, references: list, accelerator: Accelerator):
    """(scores, predictions) of one task on one split; the one place predictions meet the metric."""
    predictions = [pad_to(p, r) for p, r in zip(predict_task(model, name, task, loader, accelerator), references)]
    scores = metrics.compute(
        task.config.metric, predictions, references, labels=task.labels, negative_label=task.config.negative_label
    )
    return scores, predictions


def evaluate_tasks(
    model: nn.Module,
    tasks: dict[str, Task],
    loaders: dict[str, DataLoader],
    references: dict[str, list],
    accelerator: Accelerator,
) -> dict[str, dict]:
    """Per-task scores (each with ``primary``) on the splits behind ``loaders``; the model is left in train mode."""
    model.eval()
    results = {}
    for name, loader in loaders.items():
        results[name], _ = score_task(model, name, tasks[name], loader, references[name], accelerator)
    model.train()
    return results


def mean_primary(results: dict[str, dict]) -> float:
    """The figure checkpoints are ranked by: the unweighted mean of each task's primary metric."""
    return sum(r["primary"] for r in results.values()) / max(len(results), 1)


def evaluate_model(
    model_dir: str, *, data_dir: str, split: str = "dev", tasks: list[str] | None = None, predictions_dir: str | None = None,
    decoding: str | None = None, relation_threshold: float | None = None,
) -> dict[str, dict]:
    """Score a saved model folder on one split of its own tasks (their configs travel inside config.json).

    With ``predictions_dir``, each task's predictions are also written in its benchmark's answer format. ``decoding``
    (argmax or viterbi) replaces the saved tagging decoding of every task, ``relation_threshold`` the joint tasks'
    relation threshold: both change inference only, not the weights.
    """
    from pathlib import Path

    from mtl_nlp.data import load_split, make_loader, tokenize
    from mtl_nlp.encoders import load_tokenizer
    from mtl_nlp.modeling import MultiTaskModel, load_config
    from mtl_nlp.tasks import build_task

    accelerator = Accelerator(cpu=cpu_processes())
    config = load_config(model_dir)
    inference = {k: v for k, v in {"decoding": decoding, "relation_threshold": relation_threshold}.items() if v is not None}
    config.tasks = [{**spec, **inference} for spec in config.tasks]
    model = accelerator.prepare(MultiTaskModel.from_pretrained(model_dir, config=config)).eval()
    tokenizer = load_tokenizer(model_dir)
    results = {}
    for config in accelerator.unwrap_model(model).config.task_configs():
        if tasks and config.name not in tasks:
            continue
        task = build_task(config)
        raw = load_split(config, task, split, data_dir)
        if raw is None:
            continue
        ds = tokenize(raw, task, tokenizer, f"{config.name}/{split}")
        loader = accelerator.prepare(make_loader(ds, task, tokenizer, batch_size=64, shuffle=False, seed=0))
        results[config.name], predictions = score_task(model, config.name, task, loader, task.references(raw[:]), accelerator)
        if predictions_dir and accelerator.is_main_process:
            Path(predictions_dir).mkdir(parents=True, exist_ok=True)
            task.write_answers(raw, predictions, Path(predictions_dir), f"{config.name}.{split}")
    return results
