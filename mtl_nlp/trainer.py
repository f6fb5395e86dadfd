"""The training loop: one explicit Accelerate loop over (task, batch) pairs drawn by the task sampler."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from mtl_nlp import averaging
from mtl_nlp.allocator import allocator_in_use, allocator_note
from mtl_nlp.checkpoints import StopRequests, TrainingStopped, disk_full_is_an_error, inject_fault, save_checkpoint
from mtl_nlp.checkpoints import resolve as resolve_checkpoint
from mtl_nlp.config import RunConfig
from mtl_nlp.data import load_split, make_loader, tokenize, training_split
from mtl_nlp.dropout import dropout_masks
from mtl_nlp.encoders import add_special_tokens, check_compatible, load_encoder
from mtl_nlp.errors import ConfigError
from mtl_nlp.evaluation import evaluate_tasks, mean_primary
from mtl_nlp.gradients import TaskGradients, probe_cosines
from mtl_nlp.hub import CURVES, EXAMPLES, draw_curves, write_model_card
from mtl_nlp.launch import cpu_processes
from mtl_nlp.layer_decay import layer_depth, layer_index, layer_scale, set_task_rates
from mtl_nlp.memory import PeakMemory
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.packing import check_packing
from mtl_nlp.sampling import Interleaver, TaskSampler, draws_per_step, sampler_for
from mtl_nlp.schedule import drop_encoder_gradients, make_scheduler
from mtl_nlp.tasks import Task, build_task
from mtl_nlp.text import example_texts
from mtl_nlp.weighting import build_weighting

logger = get_logger(__name__)
STEP = "mtl_nlp.train_step"  # the profiler's name for one batch's forward, backward and optimiser step (bench.profile)


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
        train = training_split(config, task, run.data_dir_for(name), examples=run.train.max_train_examples, seed=run.train.seed)
        raw[name] = (train, load_split(config, task, "dev", run.data_dir_for(name)))
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
    model: MultiTaskModel, learning_rate: float, head_learning_rate: float, weight_decay: float, adapter_learning_rate: float | None = None,
    fused: bool = False, layer_lr_decay: float | None = None, layer_depths: bool = False,
):
    """AdamW without weight decay on biases and norms; heads, and the sharing strategy's task parameters (adapters,
    task copies, gates), may learn faster than the pretrained encoder, whose lower layers may learn slower
    (``layer_lr_decay``, mtl_nlp.layer_decay). ``layer_depths`` gives each encoder layer its own group that records
    its ``layer_depth``, so each task's step can use its own decay (``set_task_rates``). Each group records whether
    it holds the shared encoder's own weights (``shared``), which ``train.encoder_until`` stops before the task
    parts. ``fused`` updates every parameter of a group in one kernel (CPU and GPU); it needs floating-point
    parameters on one kind of device."""
    named = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    layers = 1 + max((layer_index(name) for name, _ in named if name.startswith("encoder.")), default=-1)
    trains_encoder = any(name.startswith("encoder.") for name, _ in named)
    if layer_lr_decay is not None and trains_encoder and layers == 0:
        # the standard logger: this also runs outside an Accelerate state (make_optimizer is a plain function)
        logging.getLogger(__name__).warning(
            "train.layer_lr_decay: no encoder parameter is named like a numbered layer (`.layer.N.` or `.layers.N.`), "
            "so the whole encoder trains at one rate; remove the setting for this encoder")
    groups: dict[tuple[float, float, int, bool], list] = defaultdict(list)
    for name, param in named:
        lr, depth = learning_rate * layer_scale(name, layers, layer_lr_decay), layer_depth(name, layers) if layer_depths else 0
        if name.startswith("heads."):
            lr, depth = head_learning_rate, 0
        elif adapter_learning_rate and (name.startswith("sharing.") or ".lora_" in name):
            lr, depth = adapter_learning_rate, 0
        elif not name.startswith("encoder."):
            depth = 0
        decay = 0.0 if param.ndim < 2 else weight_decay
        groups[(lr, decay, depth, name.startswith("encoder.") and ".lora_" not in name)].append(param)
    return torch.optim.AdamW([{"params": p, "lr": lr, "weight_decay": d, "shared": shared, **({"layer_depth": k} if layer_depths else {})}
                              for (lr, d, k, shared), p in groups.items()], fused=fused or None)


def save_model(model, tokenizer: PreTrainedTokenizerBase, accelerator: Accelerator, output_dir: Path) -> None:
    """Write the self-describing model folder (config with tasks and labels, safetensors, tokenizer). Files are
    written beside it first and each moved in with one rename, so a kill mid-save never leaves a torn weights file."""
    accelerator.wait_for_everyone()
    staging = output_dir / ".saving"
    with disk_full_is_an_error(staging, output_dir / "checkpoints"):
        accelerator.unwrap_model(model).save_pretrained(
            staging, is_main_process=accelerator.is_main_process, save_function=accelerator.save
        )
        if accelerator.is_main_process:
            tokenizer.save_pretrained(staging)
    if accelerator.is_main_process:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = output_dir / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                path.replace(target)
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()


class LossHealth:
    """Remembers whether each step's loss was finite, on the device, and checks only where the loop would log or
    save anyway, so no step waits: diverged weights are never saved, and the error names the first bad step."""

    def __init__(self, checkpoints_root: Path) -> None:
        self.root, self.pending = checkpoints_root, []

    def add(self, step: int, task: str, loss: torch.Tensor) -> None:
        self.pending.append((step, task, torch.isfinite(loss.detach())))

    def check(self, best_step: int) -> None:
        if not self.pending:
            return
        flags = torch.stack([f for _, _, f in self.pending]).tolist()
        pending, self.pending = self.pending, []
        for (step, task, _), finite in zip(pending, flags):
            if not finite:
                from mtl_nlp.checkpoints import checkpoints

                kept = checkpoints(self.root)
                last = f"the last checkpoint is {kept[-1]} (resume_from)" if kept else "no checkpoint was written"
                raise ConfigError(f"the training loss of task {task!r} became NaN or infinite at step {step}; nothing "
                                  f"after it was saved: {last}, and the best model in the output folder is from step "
                                  f"{best_step}. Lower the learning rate, keep train.max_grad_norm, or check the "
                                  "task's data and labels.")


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

    def state_dict(self) -> dict:
        return {"sums": {t: s.item() for t, s in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.sums = {t: torch.tensor(v, dtype=torch.float32) for t, v in state["sums"].items()}
        self.counts = defaultdict(int, state["counts"])


def train(run: RunConfig) -> Path:
    """Fine-tune one shared encoder on every task of ``run``; the best checkpoint and metrics.json land in output_dir."""
    output_dir = Path(run.output_dir)
    # Accelerate keeps one AcceleratorState per process and refuses another precision in it, so runs trained one
    # after another in one process (the benchmark harness, a notebook) start from a fresh one; the process group
    # (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(
        cpu=cpu_processes(),
        mixed_precision=run.train.mixed_precision,
        # every_task sampling accumulates one batch of each task into every optimiser step.
        gradient_accumulation_steps=run.train.gradient_accumulation_steps * draws_per_step(run.sampling, len(run.tasks)),
        log_with="tensorboard",
        project_dir=str(output_dir),
        # Each step runs one task's head, so the other heads get no gradient under DDP.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    set_seed(run.train.seed)
    logger.info(allocator_note())
    tasks = {t.name: build_task(t) for t in run.tasks}
    raw = read_data(run, tasks)
    encoder, tokenizer = load_encoder(run.encoder, run.trust_remote_code, run.attention)
    check_compatible(encoder, tokenizer, run.tasks)
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


def _loaders(run: RunConfig, tasks: dict[str, Task], data: dict[str, TaskData], tokenizer, pack: bool) -> tuple[dict, dict]:
    t = run.train
    train = {n: make_loader(d.train, tasks[n], tokenizer, batch_size=t.batch_size, shuffle=True, seed=t.seed,
                            group_by_length=t.group_by_length, length_window=t.length_window,
                            workers=t.dataloader_workers, pack=pack) for n, d in data.items()}
    dev = {
        n: make_loader(d.dev, tasks[n], tokenizer, batch_size=t.eval_batch_size, shuffle=False, seed=t.seed, pack=pack)
        for n, d in data.items()
        if d.dev is not None
    }
    return train, dev


def _sampler(run: RunConfig, data: dict[str, TaskData]) -> TaskSampler:
    sizes = {name: len(d.train) for name, d in data.items()}
    sampler = sampler_for(run.sampling, sizes, seed=run.train.seed, total_steps=run.train.max_steps)
    logger.info("task sampling proportions at the start: " + ", ".join(f"{n} {p:.3f}" for n, p in sampler.proportions().items()))
    return sampler


def _packing(run: RunConfig, model, tasks: dict[str, Task], data: dict[str, TaskData], tokenizer) -> bool:
    """Whether batches are packed: ``pack_sequences`` true insists (an encoder that disagrees is a ConfigError), null
    packs where the first training batch encodes the same both ways (else padded, said in the log), false never."""
    if run.train.pack_sequences is False:
        return False
    name, d = next(iter(data.items()))
    batch = next(iter(make_loader(d.train, tasks[name], tokenizer, batch_size=run.train.batch_size, shuffle=False, seed=0,
                                  pack=True)))
    try:
        check_packing(model, name, batch)
    except ConfigError as err:
        if run.train.pack_sequences:
            raise
        logger.info(f"padded batches: {err}")
        return False
    logger.info("packed batches: each batch encoded without its padding (train.pack_sequences)")
    return True


def _prepare(run: RunConfig, accelerator: Accelerator, model, tokenizer, tasks: dict[str, Task], data: dict[str, TaskData],
             weighting: nn.Module):
    """Optimizer, linear warm-up/decay schedule (the encoder's may end first) and loaders, all passed through
    ``accelerator.prepare``. Learned loss weights train at the heads' learning rate, without weight decay."""
    t = run.train
    pack = _packing(run, model, tasks, data, tokenizer)
    if t.compile:  # in place, so parameter names (checkpoints, saved weights) stay those of the plain encoder
        model.encoder.compile(dynamic=True)
    optimizer = make_optimizer(model, t.learning_rate, t.head_learning_rate or t.learning_rate, t.weight_decay,
                               t.adapter_learning_rate, fused=t.optimizer == "adamw_fused", layer_lr_decay=t.layer_lr_decay,
                               layer_depths=bool(t.task_layer_lr_decay))
    if t.layer_lr_decay is not None:
        logger.info(f"layer-wise learning-rate decay {t.layer_lr_decay}: the encoder's top layer trains at {t.learning_rate}, "
                    "each layer below at that times the one above, the embeddings lowest")
    if t.task_layer_lr_decay:
        logger.info("each task's own layer-wise decay in its steps: " + ", ".join(f"{n} {d or 'none'}" for n, d in t.task_layer_lr_decay.items()))
    if list(weighting.parameters()):
        optimizer.add_param_group({"params": list(weighting.parameters()), "lr": t.head_learning_rate or t.learning_rate, "weight_decay": 0.0})
    n = accelerator.num_processes  # the prepared scheduler steps once per process
    encoder_steps = t.encoder_steps()
    scheduler = make_scheduler(optimizer, int(t.warmup_ratio * t.max_steps) * n, t.max_steps * n, encoder_steps * n)
    if encoder_steps < t.max_steps:
        logger.info(f"the shared encoder trains for the first {encoder_steps} steps (train.encoder_until "
                    f"{t.encoder_until}); heads and adapters train on to step {t.max_steps}")
    train_loaders, dev_loaders = _loaders(run, tasks, data, tokenizer, pack)
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
    """The loop itself, on an already built model (updated in place): train, evaluate, keep the best, checkpoint,
    report. With ``run.resume_from`` it first restores a checkpoint and continues exactly where it was taken."""
    t, output_dir = run.train, Path(run.output_dir)
    weighting = build_weighting(run.weighting, list(tasks)).to(accelerator.device)
    model, optimizer, scheduler, train_loaders, dev_loaders = _prepare(run, accelerator, model, tokenizer, tasks, data, weighting)
    references = {name: data[name].dev_references for name in dev_loaders}
    accelerator.init_trackers("mtl_nlp", config=_flat_hparams(run))
    sampler, meter, log = _sampler(run, data), LossMeter(), TrainingLog()
    batches = Interleaver(train_loaders, sampler)
    gradients = TaskGradients(model, run.gradient.type, seed=t.seed)
    if gradients.active and accelerator.num_processes > 1:
        # DDP averages only the gradient of the step's last backward pass; the others were collected locally.
        raise ConfigError("gradient.type: pcgrad runs on one process: DDP would average only the last task's gradient "
                          "of each step. Train with one process, or use gradient.type: sum")
    probes = _probe_batches(run, tasks, data, tokenizer, accelerator) if run.gradient.cosine_every else {}
    average = averaging.moving_average(accelerator.unwrap_model(model), t.ema_decay)
    for part in (sampler, batches, weighting, gradients, meter, log, *([average] if average else [])):
        accelerator.register_for_checkpointing(part)
    root = output_dir / "checkpoints"
    _resume(run, accelerator, root)
    sharing_report = accelerator.unwrap_model(model).sharing_report
    if accelerator.gradient_accumulation_steps != t.gradient_accumulation_steps * sampler.per_step:
        raise ValueError(f"the Accelerator accumulates {accelerator.gradient_accumulation_steps} batches per step; this run "
                         f"needs {t.gradient_accumulation_steps * sampler.per_step} (see draws_per_step)")
    progress = tqdm(total=t.max_steps, initial=log.step, disable=not accelerator.is_local_main_process, desc="training")
    tokens, log.mark = torch.zeros((), dtype=torch.long, device=accelerator.device), time.perf_counter()
    peak = PeakMemory().start()
    model.train()
    remaining = (t.max_steps - log.step) * t.gradient_accumulation_steps * sampler.per_step
    health = LossHealth(root)
    encoder_steps = t.encoder_steps()
    with StopRequests() as stop:
        for task, batch in itertools.islice(batches, remaining):
            with accelerator.accumulate(model), torch.profiler.record_function(STEP):
                labels = batch.pop("labels")
                with dropout_masks(t.dropout_masks):
                    out = model(task=task, **batch)
                task_loss = tasks[task].loss(out.logits, labels)
                # The task's weight, then the sharing strategy's regulariser (soft sharing's distance, the gates' term).
                loss = weighting(task, task_loss) + (0 if out.penalty is None else out.penalty)
                accelerator.backward(loss)
                if gradients.active:
                    gradients.collect(task)
                if accelerator.sync_gradients:
                    _combine(gradients, weighting, accelerator, log)
                    if log.step >= encoder_steps:  # the encoder's rate is zero from here on
                        drop_encoder_gradients(optimizer)
                    accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
                if t.task_layer_lr_decay:  # one task a step (checked on load); the schedule resets the rates after
                    set_task_rates(optimizer.param_groups, t.layer_lr_decay, t.decay_for(task))
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            meter.add(task, task_loss)
            health.add(log.step + 1, task, task_loss)
            tokens += batch["attention_mask"].sum()  # on the device: read once at the end, no wait per step
            if not accelerator.sync_gradients:
                continue
            log.step += 1
            step = log.step
            weighting.end_step()
            averaging.update(average, accelerator.unwrap_model(model), step, int(t.warmup_ratio * t.max_steps))
            progress.update(1)
            if step % t.log_every == 0 or step % t.eval_every == 0 or step == t.max_steps or stop.requested or (
                    t.checkpoint_every and step % t.checkpoint_every == 0):
                health.check(log.best["step"])  # before anything is logged or saved: never keep diverged weights
            if step % t.log_every == 0:
                logged = {**meter.pop(), **{f"train/weight/{k}": v for k, v in weighting.weights().items()}}
                log.add_losses(step, logged)
                accelerator.log({**logged, **sharing_report(), "train/lr": scheduler.get_last_lr()[0]}, step=step)
            if run.gradient.cosine_every and step % run.gradient.cosine_every == 0:
                log.add_cosines(step, probe_cosines(model, _probe_losses(model, tasks, probes)), accelerator)
            if dev_loaders and (step % t.eval_every == 0 or step == t.max_steps):
                _evaluate(averaging.scored(model, average), tokenizer, tasks, dev_loaders, references, accelerator, log, output_dir)
            inject_fault("step", step)
            if stop.requested or (t.checkpoint_every and (step % t.checkpoint_every == 0 or step == t.max_steps)):
                log.tick(tokens)
                save_checkpoint(accelerator, root, step, t.keep_checkpoints)
            if stop.requested:
                accelerator.end_training()
                raise TrainingStopped(f"stopped by {stop.requested} at step {step} of {t.max_steps}; the checkpoint is in "
                                      f"{root / f'step-{step}'}. Resume with: mtl-nlp train {run.path} resume_from=latest")
    progress.close()
    peak.stop()
    if not dev_loaders:
        save_model(averaging.scored(model, average), tokenizer, accelerator, output_dir)
    log.tick(tokens)
    summary = {
        "best_step": log.best["step"],
        "best_mean_primary": log.best["score"] if dev_loaders else None,
        "dev": log.best["metrics"],
        "final_dev": log.history[-1]["dev"] if log.history else {},
        **log.summary(weighting, gradients, log.step),
        "train_seconds": log.train_seconds,
        "eval_seconds": log.eval_seconds,
        "train_tokens": log.tokens * accelerator.num_processes,  # non-padding tokens read in training
        "train_tokens_per_second": log.tokens * accelerator.num_processes / max(log.train_seconds, 1e-9),
        "steps": log.step,
        "processes": accelerator.num_processes,
        "peak_memory_bytes": peak.bytes,
        "allocator": allocator_in_use(),
        "sharing": sharing_report(),
        "run": _plain_run(run),
    }
    if accelerator.is_main_process:
        (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        if log.history:
            draw_curves(log.history, output_dir / CURVES)
        write_model_card(output_dir)
    accelerator.end_training()
    return output_dir


def _resume(run: RunConfig, accelerator: Accelerator, root: Path) -> None:
    """Restore the checkpoint ``run.resume_from`` names (model, optimiser, scheduler, RNG and the registered parts)."""
    if not run.resume_from:
        return
    path = resolve_checkpoint(run.resume_from, root)
    if path is None:
        logger.warning(f"resume_from: latest, but {root} holds no checkpoint yet: starting from the first step")
        return
    accelerator.load_state(str(path))
    logger.info(f"resumed from {path}")


def _evaluate(model, tokenizer, tasks, dev_loaders, references, accelerator: Accelerator, log: TrainingLog, output_dir: Path) -> None:
    """Score every dev split, record it, and save the model when the mean primary metric is the best so far."""
    started = time.perf_counter()
    results = evaluate_tasks(model, tasks, dev_loaders, references, accelerator)
    inject_fault("eval", log.step)
    _log_eval(accelerator, results, log.step, log.history)
    if mean_primary(results) > log.best["score"]:
        log.best = {"score": mean_primary(results), "step": log.step, "metrics": results}
        save_model(model, tokenizer, accelerator, output_dir)
    log.eval_seconds_now += time.perf_counter() - started


def _probe_batches(run: RunConfig, tasks: dict[str, Task], data: dict[str, TaskData], tokenizer, accelerator: Accelerator) -> dict:
    """The first training batch of each task, unshuffled: the same probe for every cosine measurement."""
    out = {}
    for name, d in data.items():
        batch = next(iter(make_loader(d.train, tasks[name], tokenizer, batch_size=run.train.batch_size, shuffle=False, seed=0)))
        out[name] = _to_device(batch, accelerator.device)
    return out


def _to_device(value, device):
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _probe_losses(model, tasks: dict[str, Task], probes: dict[str, dict]) -> dict:
    def loss(name: str):
        batch = dict(probes[name])
        labels = batch.pop("labels")
        return tasks[name].loss(model(task=name, **batch).logits, labels)

    return {name: (lambda name=name: loss(name)) for name in probes}


def _combine(gradients: TaskGradients, weighting: nn.Module, accelerator: Accelerator, log: TrainingLog) -> None:
    """At the optimiser step: PCGrad's projection where chosen (timed), and the learned loss weights' gradients
    averaged over processes (each process saw other examples of the same task)."""
    if gradients.active:
        started = time.perf_counter()
        gradients.write_back()
        log.combine_seconds += time.perf_counter() - started
    if accelerator.num_processes > 1:
        for p in weighting.parameters():
            if p.grad is not None:
                p.grad = accelerator.reduce(p.grad, "mean")


@dataclass
class TrainingLog:
    """The loop's counters and records (step, best checkpoint, dev history, training losses and weights, gradient
    cosines, times); a checkpoint holds it, so a resumed run writes the metrics.json an uninterrupted one would."""

    step: int = 0
    best: dict = field(default_factory=lambda: {"score": float("-inf"), "step": 0, "metrics": {}})
    history: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    cosines: list = field(default_factory=list)
    combine_seconds: float = 0.0
    train_seconds: float = 0.0  # totals up to the last tick (a checkpoint or the end), over every resumed part
    eval_seconds: float = 0.0
    tokens: int = 0
    eval_seconds_now: float = 0.0  # since the last tick
    mark: float = field(default_factory=time.perf_counter)

    def tick(self, tokens: torch.Tensor) -> None:
        """Move the time and the non-padding tokens counted on the device since the last tick into the totals."""
        now = time.perf_counter()
        self.train_seconds += now - self.mark - self.eval_seconds_now
        self.eval_seconds += self.eval_seconds_now
        self.tokens += int(tokens)
        tokens.zero_()
        self.mark, self.eval_seconds_now = now, 0.0

    def state_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("eval_seconds_now", "mark")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def add_losses(self, step: int, logged: dict[str, float]) -> None:
        entry = {"step": step, "loss": {}, "weight": {}}
        for key, value in logged.items():
            kind, _, task = key.partition("/")[2].partition("/")
            entry[kind][task] = value
        self.losses.append(entry)

    def add_cosines(self, step: int, matrix: dict[str, dict[str, float]], accelerator: Accelerator) -> None:
        self.cosines.append({"step": step, "cosine": matrix})
        accelerator.log({f"gradient_cosine/{a}/{b}": v for a, row in matrix.items() for b, v in row.items() if a < b}, step=step)

    def summary(self, weighting: nn.Module, gradients: TaskGradients, steps: int) -> dict:
        out = {"history": self.history, "train_losses": self.losses,
               "weighting": {"final": weighting.weights()},
               "gradient": {"type": gradients.kind, "conflicts": gradients.conflicts,
                            "combine_seconds_per_step": self.combine_seconds / max(steps, 1)}}
        if self.cosines:
            names = list(self.cosines[0]["cosine"])
            mean = {a: {b: round(sum(c["cosine"][a][b] for c in self.cosines) / len(self.cosines), 4) for b in names} for a in names}
            out["gradient"].update(cosines=self.cosines, mean_cosine=mean)
        return out


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
    flat.update({f"train.{k}": v if not isinstance(v, dict) else json.dumps(v)
                 for k, v in dataclasses.asdict(run.train).items() if v is not None})
    flat["sampling.temperature"] = run.sampling.temperature
    return flat
