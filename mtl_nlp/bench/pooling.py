"""Side-by-side step time of the joint entity-relation task with span_max pooling and the masked max-pool it
replaced (scripts/benchmark_pooling.py is the command)."""

import platform
import statistics
import time

import torch


def masked_span_max(hidden: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The earlier pooling, and the plain definition: mask every position outside each span ([batch, spans, length,
    hidden]) and take the max; zeros for empty spans."""
    positions = torch.arange(hidden.shape[1], device=hidden.device).view(1, 1, -1)
    mask = (positions >= start.unsqueeze(-1)) & (positions < end.unsqueeze(-1))
    states = hidden.unsqueeze(1).masked_fill(~mask.unsqueeze(-1), torch.finfo(hidden.dtype).min)
    return torch.where(mask.any(-1, keepdim=True), states.max(2).values, torch.zeros_like(states[:, :, 0]))


def build(run_path: str, data_dir: str, batch_size: int, batches: int):
    from mtl_nlp.data import load_split, make_loader, tokenize
    from mtl_nlp.encoders import add_special_tokens, load_encoder
    from mtl_nlp.modeling import MultiTaskModel
    from mtl_nlp.tasks import build_task
    from mtl_nlp.validation import validate_run

    run = validate_run(run_path, [f"data_dir={data_dir}"])
    config = next(t for t in run.tasks if t.type == "joint_entity_relation")
    task = build_task(config)
    encoder, tokenizer = load_encoder(run.encoder)
    add_special_tokens(tokenizer, encoder, task.special_tokens())
    model = MultiTaskModel.from_encoder(encoder, [config])
    data = tokenize(load_split(config, task, "train", run.data_dir_for(config.name)), task, tokenizer, f"{config.name}/train")
    loader = make_loader(data, task, tokenizer, batch_size=batch_size, shuffle=True, seed=run.train.seed)
    chosen = [batch for _, batch in zip(range(batches), loader)]
    return run, config, task, model, chosen


def step_seconds(model, task, name: str, batch: dict) -> float:
    batch = dict(batch)
    labels = batch.pop("labels")
    started = time.perf_counter()
    task.loss(model(task=name, **batch).logits, labels).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def measure(run_path: str, data_dir: str, batch_size: int, batch_count: int, command: str) -> dict:
    """Step time of the joint task with each pooling, over ``batch_count`` training batches of ``batch_size``."""
    from mtl_nlp.pooling import span_max

    run, config, task, model, batches = build(run_path, data_dir, batch_size, batch_count)
    model.train()
    head = model.heads[config.name]
    ways = {"span_max": span_max, "masked": masked_span_max}
    times: dict[str, list[float]] = {k: [] for k in ways}
    step_seconds(model, task, config.name, batches[0])  # warm-up, not timed
    for batch in batches:
        for name, pool in ways.items():
            head.pool = pool
            times[name].append(step_seconds(model, task, config.name, batch))
    pairs = [int(b["labels"]["pairs"].shape[1]) for b in batches]
    lengths = [int(b["input_ids"].shape[1]) for b in batches]
    return {
        "command": command,
        "task": config.name, "encoder": run.encoder, "batch_size": batch_size, "batches": len(batches),
        "pairs_per_batch": {"mean": statistics.mean(pairs), "max": max(pairs)},
        "padded_length": {"mean": statistics.mean(lengths), "max": max(lengths)},
        "environment": {"device": f"CPU ({platform.machine()})", "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "seconds_per_step": {k: {"mean": statistics.mean(v), "median": statistics.median(v), "max": max(v)} for k, v in times.items()},
        "speedup_median": statistics.median(m / f for m, f in zip(times["masked"], times["span_max"])),
    }


def table(result: dict) -> str:
    s = result["seconds_per_step"]
    rows = [f"| {k} | {v['mean']:.3f} | {v['median']:.3f} | {v['max']:.3f} |" for k, v in s.items()]
    return "\n".join([
        f"Training step (forward + backward, batch {result['batch_size']}) of `{result['task']}` on {result['encoder']}, "
        f"{result['batches']} real train batches (pairs per batch: mean {result['pairs_per_batch']['mean']:.0f}, max "
        f"{result['pairs_per_batch']['max']}; padded length mean {result['padded_length']['mean']:.0f}, max "
        f"{result['padded_length']['max']}). {result['environment']['device']}, torch {result['environment']['torch']}, "
        f"{result['environment']['torch_threads']} threads. Both poolings run on every batch, alternating.",
        "",
        "| pair pooling | mean s/step | median s/step | max s/step |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Median per-batch speed-up of span_max over the masked max-pool: {result['speedup_median']:.2f}x.",
        "",
        f"Command: `{result['command']}`",
        "",
    ])
