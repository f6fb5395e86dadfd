"""The training loop: one explicit Accelerate loop over (task, batch) pairs drawn by the task sampler."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from mtl_nlp.config import RunConfig
from mtl_nlp.data import load_split, make_loader, tokenize
from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.evaluation import evaluate_tasks, mean_primary
from mtl_nlp.hub import CURVES, EXAMPLES, draw_curves, write_model_card
from mtl_nlp.memory import PeakMemory
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.sampling import TaskSampler, interleave, task_proportions
from mtl_nlp.tasks import Task, build_task
from mtl_nlp.text import example_texts

logger = get_logger(__name__)


@dataclass
class TaskData:
    """A task's tokenized train split and, when it has one, its dev split with the gold answers."""

    train: object
    dev: object | None = None
    dev_references: list = field(default_factory=list)


def read_data(run: RunConfig, tasks: dict[str, Task]) -> dict[str, tuple]:
    """Read and check every task's train and dev splits: bad data fails here, before any model loads."""
    raw = {}
    for name, task in tasks.items():
        config = run.task(name)
        raw[name] = (load_split(config, task, "train", run.data_dir_for(name)), load_split(config, task, "dev", run.data_dir_for(name)))
        logger.info(f"{name}: {len(raw[name][0])} train, {0 if raw[name][1] is None else len(raw[name][1])} dev examples")
    return raw


def prepare_data(
    raw: dict[str, tuple], tasks: dict[str, Task], tokenizer: PreTrainedTokenizerBase, accelerator: Accelerator
) -> dict[str, TaskData]:
    """Tokenize every task's splits (the main process first, so the others read its cache)."""
    out = {}
    with accelerator.main_process_first():
        for name, (train_raw, dev_raw) in raw.items():
            task = tasks[name]
            data = TaskData(train=tokenize(train_raw, task, tokenizer, f"{name}/train"))
            if dev_raw is not None:
                data.dev = tokenize(dev_raw, task, tokenizer, f"{name}/dev")
                data.dev_references = task.references(dev_raw[:])
            out[name] = data
    return out


def make_optimizer(
    model: MultiTaskModel, learning_rate: float, head_learning_rate: float, weight_decay: float, adapter_learning_rate: float | None = None
):
    """AdamW without weight decay on biases and norms; heads, and the sharing strategy's task parameters (adapters,
    task copies, gates), may learn faster than the pretrained encoder."""
    groups: dict[tuple[float, float], list] = defaultdict(list)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr = learning_rate
        if name.startswith("heads."):
            lr = head_learning_rate
        elif adapter_learning_rate and (name.startswith("sharing.") or ".lora_" in name):
            lr = adapter_learning_rate
        decay = 0.0 if param.ndim < 2 else weight_decay
        groups[(lr, decay)].append(param)
    return torch.optim.AdamW([{"params": p, "lr": lr, "weight_decay": d} for (lr, d), p in groups.items()])


def save_model(model, tokenizer: PreTrainedTokenizerBase, accelerator: Accelerator, output_dir: Path) -> None:
    """Write the self-describing model folder (config with tasks and labels, safetensors, tokenizer)."""
    accelerator.wait_for_everyone()
    accelerator.unwrap_model(model).save_pretrained(
        output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save
    )
    if accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)


class LossMeter:
    """Mean training loss per task since the last log line, kept as tensors so no step waits on ``.item()``."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, task: str, loss: torch.Tensor) -> None:
        self.sums[task] = self.sums.get(task, 0) + loss.detach().float()
        self.counts[task] += 1

    def pop(self) -> dict[str, float]:
        means = {f"train/loss/{t}": (s / self.counts[t]).item() for t, s in self.sums.items()}
        self.sums, self.counts = {}, defaultdict(int)
        return means


def train(run: RunConfig) -> Path:
    """Fine-tune one shared encoder on every task of ``run``; the best checkpoint and metrics.json land in output_dir."""
    output_dir = Path(run.output_dir)
    accelerator = Accelerator(
        mixed_precision=run.train.mixed_precision,
        gradient_accumulation_steps=run.train.gradient_accumulation_steps,
        log_with="tensorboard",
        project_dir=str(output_dir),
        # Each step runs one task's head, so the other heads get no gradient under DDP.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    set_seed(run.train.seed)
    tasks = {t.name: build_task(t) for t in run.tasks}
    raw = read_data(run, tasks)
    encoder, tokenizer = load_encoder(run.encoder)
    add_special_tokens(tokenizer, encoder, [tok for task in tasks.values() for tok in task.special_tokens()])
    data = prepare_data(raw, tasks, tokenizer, accelerator)
    model = MultiTaskModel.from_encoder(encoder, run.tasks, run.sharing)
    if accelerator.is_main_process:
        write_examples(raw, output_dir)
    return fit(run, accelerator, model, tokenizer, tasks, data)


def write_examples(raw: dict[str, tuple], output_dir: Path) -> None:
    """A few dev (else train) texts of every task in examples.json, for the demo app to preload."""
    texts = [t for train_raw, dev_raw in raw.values() for t in example_texts(dev_raw if dev_raw is not None else train_raw)]
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EXAMPLES).write_text(json.dumps(list(dict.fromkeys(texts)), ensure_ascii=False, indent=2) + "\n")


def _loaders(run: RunConfig, tasks: dict[str, Task], data: dict[str, TaskData], tokenizer) -> tuple[dict, dict]:
    t = run.train
    train = {n: make_loader(d.train, tasks[n], tokenizer, batch_size=t.batch_size, shuffle=True, seed=t.seed) for n, d in data.items()}
    dev = {
        n: make_loader(d.dev, tasks[n], tokenizer, batch_size=t.eval_batch_size, shuffle=False, seed=t.seed)
        for n, d in data.items()
        if d.dev is not None
    }
    return train, dev


def _sampler(run: RunConfig, data: dict[str, TaskData]) -> TaskSampler:
    sizes = {name: len(d.train) for name, d in data.items()}
    s = run.sampling
    proportions = task_proportions(sizes, s.type, temperature=s.temperature, weights=s.weights)
    logger.info("task sampling proportions: " + ", ".join(f"{n} {p:.3f}" for n, p in proportions.items()))
    return TaskSampler(proportions, seed=run.train.seed, round_robin=s.type == "round_robin")


def _prepare(run: RunConfig, accelerator: Accelerator, model, tokenizer, tasks: dict[str, Task], data: dict[str, TaskData]):
    """Optimizer, linear warm-up/decay schedule and loaders, all passed through ``accelerator.prepare``."""
    t = run.train
    optimizer = make_optimizer(model, t.learning_rate, t.head_learning_rate or t.learning_rate, t.weight_decay, t.adapter_learning_rate)
    n = accelerator.num_processes  # the prepared scheduler steps once per process
    scheduler = get_linear_schedule_with_warmup(optimizer, int(t.warmup_ratio * t.max_steps) * n, t.max_steps * n)
    train_loaders, dev_loaders = _loaders(run, tasks, data, tokenizer)
    names, dev_names = list(train_loaders), list(dev_loaders)
    prepared = accelerator.prepare(model, optimizer, scheduler, *train_loaders.values(), *dev_loaders.values())
    train_loaders = dict(zip(names, prepared[3 : 3 + len(names)]))
    dev_loaders = dict(zip(dev_names, prepared[3 + len(names) :]))
    return (*prepared[:3], train_loaders, dev_loaders)


def fit(
    run: RunConfig,
    accelerator: Accelerator,
    model: MultiTaskModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: dict[str, Task],
    data: dict[str, TaskData],
) -> Path:
    """The loop itself, on an already built model (updated in place): train, evaluate, keep the best, report."""
    t, output_dir = run.train, Path(run.output_dir)
    model, optimizer, scheduler, train_loaders, dev_loaders = _prepare(run, accelerator, model, tokenizer, tasks, data)
    references = {name: data[name].dev_references for name in dev_loaders}
    accelerator.init_trackers("mtl_nlp", config=_flat_hparams(run))
    sampler, meter, history, losses = _sampler(run, data), LossMeter(), [], []
    sharing_report = accelerator.unwrap_model(model).sharing_report
    best = {"score": float("-inf"), "step": 0, "metrics": {}}
    progress = tqdm(total=t.max_steps, disable=not accelerator.is_local_main_process, desc="training")
    step, tokens, eval_seconds, started = 0, 0, 0.0, time.perf_counter()
    peak = PeakMemory().start()
    model.train()
    for task, batch in interleave(train_loaders, sampler, t.max_steps * t.gradient_accumulation_steps):
        with accelerator.accumulate(model):
            labels = batch.pop("labels")
            out = model(task=task, **batch)
            task_loss = tasks[task].loss(out.logits, labels)
            # The sharing strategy's regulariser (soft sharing's distance, the gates' term), where it has one.
            loss = task_loss if out.penalty is None else task_loss + out.penalty
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        meter.add(task, task_loss)
        tokens += int(batch["attention_mask"].sum())
        if not accelerator.sync_gradients:
            continue
        step += 1
        progress.update(1)
        if step % t.log_every == 0:
            logged = meter.pop()
            losses.append({"step": step, "loss": {key.rpartition("/")[2]: value for key, value in logged.items()}})
            accelerator.log({**logged, **sharing_report(), "train/lr": scheduler.get_last_lr()[0]}, step=step)
        if dev_loaders and (step % t.eval_every == 0 or step == t.max_steps):
            eval_started = time.perf_counter()
            results = evaluate_tasks(model, tasks, dev_loaders, references, accelerator)
            _log_eval(accelerator, results, step, history)
            if mean_primary(results) > best["score"]:
                best = {"score": mean_primary(results), "step": step, "metrics": results}
                save_model(model, tokenizer, accelerator, output_dir)
            eval_seconds += time.perf_counter() - eval_started
    progress.close()
    peak.stop()
    if not dev_loaders:
        save_model(model, tokenizer, accelerator, output_dir)
    train_seconds = time.perf_counter() - started - eval_seconds
    summary = {
        "best_step": best["step"],
        "best_mean_primary": best["score"] if dev_loaders else None,
        "dev": best["metrics"],
        "final_dev": history[-1]["dev"] if history else {},
        "history": history,
        "train_losses": losses,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "train_tokens_per_second": tokens * accelerator.num_processes / train_seconds,
        "steps": step,
        "peak_memory_bytes": peak.bytes,
        "sharing": sharing_report(),
        "run": _plain_run(run),
    }
    if accelerator.is_main_process:
        (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        if history:
            draw_curves(history, output_dir / CURVES)
        write_model_card(output_dir)
    accelerator.end_training()
    return output_dir


def _log_eval(accelerator: Accelerator, results: dict[str, dict], step: int, history: list) -> None:
    flat = {f"dev/{task}/{k}": v for task, r in results.items() for k, v in r.items() if isinstance(v, float)}
    accelerator.log({**flat, "dev/mean_primary": mean_primary(results)}, step=step)
    history.append({"step": step, "dev": results})
    logger.info(f"step {step}: " + ", ".join(f"{task} {r['primary']:.4f}" for task, r in results.items()))


def _plain_run(run: RunConfig) -> dict:
    data = dataclasses.asdict(run)
    for task in data["tasks"]:
        task.pop("source")
    return data


def _flat_hparams(run: RunConfig) -> dict:
    """TensorBoard's hparams accept scalars and strings only."""
    flat = {"encoder": run.encoder, "tasks": ",".join(t.name for t in run.tasks), "sampling": run.sampling.type}
    flat.update({f"train.{k}": v for k, v in dataclasses.asdict(run.train).items() if v is not None})
    flat["sampling.temperature"] = run.sampling.temperature
    return flat
