"""A tiny multi-task model under any sharing strategy, and a batch for each of its tasks."""

from __future__ import annotations

import torch

from mtl_nlp.config import SharingConfig, TaskConfig
from mtl_nlp.encoders import load_encoder
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.tasks import build_task

TASKS = [
    TaskConfig(name="ner", type="token_classification", labels=["O", "B-PER", "I-PER"], metric="seqeval", files={"train": "x"}),
    TaskConfig(name="sent", type="sequence_classification", labels=["neg", "pos"], metric="accuracy", files={"train": "x"}),
]
COLUMNS = {
    "ner": {"tokens": [["john", "lives", "in", "paris"], ["paris"]], "tags": [["B-PER", "O", "O", "O"], ["O"]]},
    "sent": {"text": ["a great film", "awful"], "label": ["pos", "neg"]},
}


def tiny_model(encoder_dir, **sharing) -> tuple[MultiTaskModel, object]:
    encoder, tokenizer = load_encoder(str(encoder_dir))
    return MultiTaskModel.from_encoder(encoder, TASKS, SharingConfig(**sharing)), tokenizer


def batches(tokenizer) -> dict[str, dict[str, torch.Tensor]]:
    out = {}
    for config in TASKS:
        task = build_task(config)
        encoded = task.preprocess(COLUMNS[config.name], tokenizer)
        encoded.pop("lost")
        rows = [{k: v[i] for k, v in encoded.items()} for i in range(len(encoded["input_ids"]))]
        out[config.name] = task.collator(tokenizer)(rows)
    return out


def loss(model: MultiTaskModel, name: str, batch: dict) -> torch.Tensor:
    """The task's loss plus the strategy's penalty, as the trainer computes it."""
    batch = dict(batch)
    labels = batch.pop("labels")
    out = model(task=name, **batch)
    task_loss = build_task(next(t for t in TASKS if t.name == name)).loss(out.logits, labels)
    return task_loss if out.penalty is None else task_loss + out.penalty


def perturb(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every sharing parameter a non-trivial value (LoRA's B starts at zero, gates at 0.5)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("sharing.") or ".lora_" in name:
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)
