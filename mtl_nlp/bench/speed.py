"""Training speed beside the plain Transformers way, measured side by side in one invocation (scripts/benchmark_speed.py;
serving is in :mod:`mtl_nlp.bench.serving`).

The baseline is what a user without this tool writes: one ``transformers.Trainer`` per task with the matching Auto
class (``AutoModelForTokenClassification`` for a tagger, ``AutoModelForSequenceClassification`` for a text or marked
relation classifier), run one after another, on the same tokenized examples, batch size, learning rate and
``max_length``. Our loop trains all the tasks in one model, one batch of each task in turn (round robin), so every
system sees every example exactly once. Systems are alternated A B C A B C, and only ratios within the run are quoted:
the machines are shared and noisy.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from mtl_nlp.errors import ConfigError

SYSTEMS = ("ours", "ours_padded", "ours_grouped", "trainer")
LABELS = {"ours": "mtl_nlp, default settings", "ours_padded": "mtl_nlp, train.pack_sequences: false (padded batches)",
          "ours_grouped": "mtl_nlp, train.group_by_length: true", "trainer": "transformers.Trainer, one model per task"}
# Settings for bigger machines, each timed as one more row of our loop (``--options``): name -> (overrides, label).
OPTIONS = {
    "ours_eager": (["attention=eager"], "mtl_nlp, attention: eager (plain PyTorch attention instead of SDPA)"),
    "ours_workers": (["train.dataloader_workers=2"], "mtl_nlp, train.dataloader_workers: 2"),
    "ours_compile": (["train.compile=true"], "mtl_nlp, train.compile: true (compiling included)"),
    "ours_unfused": (["train.optimizer=adamw"], "mtl_nlp, train.optimizer: adamw (unfused, one kernel per tensor)"),
    "ours_fast_dropout": (["train.dropout_masks=fast"], "mtl_nlp, train.dropout_masks: fast (dropout masks drawn 64 bits at a time)"),
}


DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_rate(size: int = 2048, seconds: float = 3.0, device: str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of square matrix products on this device in this precision, now (the ceiling the training step is held
    against: fp32 on a CPU, the mixed-precision dtype on a GPU)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b  # warm-up
    _sync(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(10):  # queued products: the host's checks of the clock do not starve a GPU
            a @ b
        _sync(device)
        count += 10
    return 2 * size**3 * count / (time.perf_counter() - started)


def ceiling(mixed_precision: str) -> dict:
    """The matrix product the step is measured against: fp32 2048² on a CPU (no native bf16 here), the run's
    mixed-precision dtype at 8192² on a GPU (large enough to reach the tensor cores' rate)."""
    if torch.cuda.is_available():
        dtype = DTYPES[mixed_precision]
        return {"device": torch.cuda.get_device_name(0), "dtype": str(dtype).removeprefix("torch."),
                "flops_per_second": matmul_rate(8192, 3.0, "cuda", dtype)}
    return {"device": "cpu", "dtype": "float32", "flops_per_second": matmul_rate()}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def flops_per_token(encoder: nn.Module, mean_length: float) -> float:
    """Training FLOPs per useful token: 6 x the encoder layers' matrix weights (forward 2, backward 4), plus the
    attention products (QK^T and AV, 4 x hidden x length per token and layer, times 3 with the backward pass)."""
    config = encoder.config
    dense = sum(m.weight.numel() for name, m in encoder.named_modules() if isinstance(m, nn.Linear) and ".layer." in name)
    return 6 * dense + 12 * config.num_hidden_layers * config.hidden_size * mean_length


def task_rows(run, config, tokenizer):
    """The seeded subset of a task's training split the run trains on, tokenized by the task (cached by datasets)."""
    from accelerate import PartialState

    from mtl_nlp.data import tokenize, training_split
    from mtl_nlp.tasks import build_task

    PartialState()  # reading and tokenizing log through Accelerate, which a process that has trained nothing lacks
    task = build_task(config)
    raw = training_split(config, task, run.data_dir_for(config.name), examples=run.train.max_train_examples,
                         seed=run.train.seed)
    return task, tokenize(raw, task, tokenizer, f"{config.name}/train")


def without_evaluation(configs) -> list[str]:
    """Overrides that leave each task its training file only (no dev split, local or Hub): nothing is evaluated."""
    return [o for c in configs for o in (f"task.{c.name}.files={{train: {c.files['train']}}}", f"task.{c.name}.hub=null")]


def ours(run_path: str, overrides: list[str], out_dir: Path) -> dict:
    """One training run of our loop; its own metrics.json says the useful tokens, the training seconds and the peak
    memory the trainer measured."""
    from mtl_nlp.trainer import train
    from mtl_nlp.validation import validate_run

    run = validate_run(run_path, [*overrides, f"output_dir={out_dir}"])
    metrics = json.loads((train(run) / "metrics.json").read_text())
    return {"seconds": metrics["train_seconds"], "tokens": metrics["train_tokens"], "peak_memory_bytes": metrics["peak_memory_bytes"]}


def trainer(run_path: str, overrides: list[str], out_dir: Path) -> dict:
    """One ``transformers.Trainer`` per task, one epoch of the same examples each, timed around ``train()``."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from mtl_nlp.encoders import add_special_tokens, load_tokenizer, resolve_encoder
    from mtl_nlp.tasks import build_task
    from mtl_nlp.validation import validate_run

    run = validate_run(run_path, overrides)
    path, t = resolve_encoder(run.encoder), run.train
    seconds, tokens = 0.0, 0
    for config in run.tasks:
        config = dataclasses.replace(config, case_features=None)  # a plain Transformers model reads no casing
        task, tokenizer = build_task(config), load_tokenizer(path)
        auto = AutoModelForTokenClassification if task.hub_task == "token-classification" else AutoModelForSequenceClassification
        model = auto.from_pretrained(path, num_labels=len(task.labels))
        add_special_tokens(tokenizer, model, task.special_tokens())
        task, rows = task_rows(run, config, tokenizer)
        steps = -(-len(rows) // t.batch_size)
        args = TrainingArguments(
            output_dir=str(out_dir / config.name), per_device_train_batch_size=t.batch_size, learning_rate=t.learning_rate,
            max_steps=steps, warmup_steps=int(t.warmup_ratio * steps), weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
            seed=t.seed, report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True, dataloader_pin_memory=False,
            bf16=t.mixed_precision == "bf16", fp16=t.mixed_precision == "fp16",  # the precision our loop trains in
            use_cpu=not torch.cuda.is_available(),  # bf16 autocast on a CPU needs saying so
        )
        runner = Trainer(model=model, args=args, train_dataset=rows, data_collator=task.collator(tokenizer))
        started = time.perf_counter()
        runner.train()
        seconds += time.perf_counter() - started
        tokens += sum(sum(mask) for mask in rows["attention_mask"])
    return {"seconds": seconds, "tokens": tokens}


def data_path(run_path: str, overrides: list[str]) -> dict:
    """Seconds our loaders take to produce one epoch of every task's batches (shuffling, grouping, collation and
    padding) with no model: the part of a training step spent outside forward, backward and the optimiser. Also
    the training FLOPs per useful token of these examples, and the share of the positions the encoder computes that
    are useful (not padding)."""
    from mtl_nlp.data import make_loader
    from mtl_nlp.encoders import add_special_tokens, load_encoder
    from mtl_nlp.packing import computed_tokens
    from mtl_nlp.tasks import build_task
    from mtl_nlp.validation import validate_run

    run = validate_run(run_path, overrides)
    encoder, tokenizer = load_encoder(run.encoder)
    add_special_tokens(tokenizer, encoder, [m for c in run.tasks for m in build_task(c).special_tokens()])
    seconds, lengths, computed = 0.0, [], 0
    for config in run.tasks:
        task, rows = task_rows(run, config, tokenizer)
        lengths += [sum(mask) for mask in rows["attention_mask"]]
        loader = make_loader(rows, task, tokenizer, batch_size=run.train.batch_size, shuffle=True, seed=run.train.seed,
                             group_by_length=run.train.group_by_length, length_window=run.train.length_window,
                             pack=run.train.pack_sequences is not False)  # null packs BERT-like encoders
        started = time.perf_counter()
        for batch in loader:
            computed += computed_tokens(batch)
        seconds += time.perf_counter() - started
    return {"seconds": seconds, "flops_per_token": flops_per_token(encoder, sum(x * x for x in lengths) / sum(lengths)),
            "useful_share": sum(lengths) / computed}


def one_epoch(run_path: str, overrides: list[str], examples: int) -> tuple:
    """The run, its overrides for one epoch of ``examples`` per task in round robin with nothing evaluated, and
    that epoch's steps: the settings every timed system and the profile share."""
    from mtl_nlp.validation import validate_run

    base = [*overrides, f"train.max_train_examples={examples}", "sampling.type=round_robin", "train.log_every=1000000"]
    run = validate_run(run_path, base)
    steps = len(run.tasks) * -(-examples // run.train.batch_size)
    return run, [*base, f"train.max_steps={steps}", f"train.eval_every={steps}", *without_evaluation(run.tasks)], steps


def measure(run_path: str, overrides: list[str], *, examples: int, rounds: int, out_dir: Path,
            options: list[str] | None = None) -> dict:
    """The training comparison: every system ``rounds`` times, alternated; tokens per second, the ratio of each of
    ours to the Trainer per round, FLOP/s against the matrix-product rate, and the data path's share. ``options``
    adds a row of our loop per named setting in OPTIONS (an empty list: every one)."""
    run, base, steps = one_epoch(run_path, overrides, examples)
    grouped, padded = [*base, "train.group_by_length=true"], [*base, "train.pack_sequences=false"]
    plans = {"ours": lambda r: ours(run_path, base, out_dir / f"ours-{r}"),
             "ours_padded": lambda r: ours(run_path, padded, out_dir / f"ours_padded-{r}"),
             "ours_grouped": lambda r: ours(run_path, grouped, out_dir / f"ours_grouped-{r}"),
             "trainer": lambda r: trainer(run_path, base, out_dir / f"trainer-{r}")}
    for name, (extra, _) in chosen_options(options).items():
        plans[name] = lambda r, name=name, extra=extra: ours(run_path, [*base, *extra], out_dir / f"{name}-{r}")
    per_round: list[dict] = []
    for r in range(rounds):
        per_round.append({name: plan(r) for name, plan in plans.items()})
    limit = ceiling(run.train.mixed_precision)
    data = {"ours": data_path(run_path, base), "ours_padded": data_path(run_path, padded),
            "ours_grouped": data_path(run_path, grouped)}
    return summarise(per_round, limit, data, run, examples, steps)


def chosen_options(names: list[str] | None) -> dict[str, tuple[list[str], str]]:
    """OPTIONS entries by name, with or without the ``ours_`` prefix: none for None, all for an empty list."""
    if names is None:
        return {}
    keys = [n if n.startswith("ours_") else f"ours_{n}" for n in names] or list(OPTIONS)
    unknown = [n for n, k in zip(names, keys) if k not in OPTIONS]
    if unknown:
        raise ConfigError(f"--options: unknown {', '.join(unknown)}; "
                          f"choose from {', '.join(k.removeprefix('ours_') for k in OPTIONS)}")
    return {k: OPTIONS[k] for k in keys}


def summarise(per_round: list[dict], limit: dict, data: dict, run, examples: int, steps: int) -> dict:
    flops, rate = data["ours"]["flops_per_token"], limit["flops_per_second"]
    systems = {}
    labels = {**LABELS, **{name: label for name, (_, label) in OPTIONS.items()}}
    for name in per_round[0]:
        speeds = [r[name]["tokens"] / r[name]["seconds"] for r in per_round]
        systems[name] = {"label": labels[name], "tokens_per_second": statistics.mean(speeds), "per_round": speeds,
                         "flops_per_second": statistics.mean(speeds) * flops}
        systems[name]["matmul_share"] = systems[name]["flops_per_second"] / rate
        if name in data:
            seconds = statistics.mean(r[name]["seconds"] for r in per_round)
            systems[name]["data_path_share"] = data[name]["seconds"] / seconds
            systems[name]["useful_share"] = data[name]["useful_share"]
    for name in (n for n in per_round[0] if n != "trainer"):
        ratios = [r[name]["tokens"] / r[name]["seconds"] / (r["trainer"]["tokens"] / r["trainer"]["seconds"]) for r in per_round]
        systems[name]["ratio_to_trainer"] = statistics.mean(ratios)
        systems[name]["ratio_per_round"] = ratios
        if name in OPTIONS:  # an option's effect: its speed over the default loop's in the same round
            systems[name]["ratio_to_default"] = statistics.mean(r[name]["tokens"] / r[name]["seconds"] /
                                                                (r["ours"]["tokens"] / r["ours"]["seconds"]) for r in per_round)
    return {
        "tasks": [c.name for c in run.tasks], "examples_per_task": examples, "batch_size": run.train.batch_size,
        "max_length": {c.name: c.max_length for c in run.tasks}, "steps": steps, "rounds": len(per_round),
        "encoder": run.encoder, "matmul_flops_per_second": rate, "matmul_device": limit["device"],
        "matmul_dtype": limit["dtype"], "mixed_precision": run.train.mixed_precision, "training_flops_per_token": flops,
        "threads": torch.get_num_threads(), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__, "systems": systems, "rounds_raw": per_round,
    }


def table(result: dict) -> str:
    """The Markdown table of ``measure``'s result."""
    dtype, device = result.get("matmul_dtype", "float32"), result.get("matmul_device", "cpu")
    scale, unit = (1e12, "TFLOP/s") if device != "cpu" else (1e9, "GFLOP/s")
    where = f"on {device}, mixed precision {result.get('mixed_precision', 'no')}" if device != "cpu" else f"{result['threads']} threads"
    lines = [
        f"Training on {', '.join(result['tasks'])}: {result['examples_per_task']} examples each, batches of "
        f"{result['batch_size']}, {result['rounds']} alternated rounds, {where}. Dense {dtype} matrix "
        f"product: {result['matmul_flops_per_second'] / scale:.1f} {unit} measured in the same run.",
        "",
        f"| system | useful tokens/s (mean of rounds) | × Trainer (per round) | {unit} | of matmul rate | data path share | useful share of computed tokens |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result["systems"].values():
        ratio = (f"{s['ratio_to_trainer']:.2f} ({', '.join(f'{x:.2f}' for x in s['ratio_per_round'])})"
                 if "ratio_to_trainer" in s else "1")
        share = f"{100 * s['data_path_share']:.1f}%" if "data_path_share" in s else "–"
        useful = f"{100 * s['useful_share']:.0f}%" if "useful_share" in s else "–"
        effect = f" ({s['ratio_to_default']:.2f}x the default loop)" if "ratio_to_default" in s else ""
        lines.append(f"| {s['label']}{effect} | {s['tokens_per_second']:.0f} | {ratio} | {s['flops_per_second'] / scale:.1f} | "
                     f"{100 * s['matmul_share']:.0f}% | {share} | {useful} |")
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: Path) -> str:
    """speed.json and speed.md (the training, serving, profile and huge-pages tables, whichever were measured); returns
    the Markdown."""
    from mtl_nlp.bench.huge_pages import huge_pages_table
    from mtl_nlp.bench.profile import profile_table
    from mtl_nlp.bench.serving import serving_table

    parts = [f"Command: `{result['command']}`", ""]
    if "training" in result:
        parts += ["Training:", "", table(result["training"])]
    if "serving" in result:
        parts += ["Serving:", "", serving_table(result["serving"])]
    if "profile" in result:
        parts += ["Where the training step's time goes:", "", profile_table(result["profile"])]
    if "huge_pages" in result:
        parts += ["Large tensors on huge pages:", "", huge_pages_table(result["huge_pages"])]
    text = "\n".join(parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "speed.md").write_text(text)
    return text
