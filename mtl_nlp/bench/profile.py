"""Where a training step's time goes, by kind of operator (``scripts/benchmark_speed.py --parts profile``).

The speed table gives one figure per system: the step's FLOP/s against a square matrix product's. This splits the
step of our loop: the time inside matrix products and the rate they reach at the model's own shapes, attention
kernels, the optimiser with gradient clipping, every other operator (elementwise, norms, dropout, copies, the loss),
and the time between operators (Python, dispatch, and the profiler's own cost). Self times come from
``torch.profiler`` over one short run, counted only inside the loop's step marker (``trainer.STEP``), after warm-up.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

# Kinds of operator by aten name, first match wins; what matches none is "other operators".
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation")
KINDS = {
    "matrix products": lambda name: name in MATMUL,
    "attention kernels": lambda name: "scaled_dot_product" in name or "flash_attention" in name,
    "optimizer and clipping": lambda name: "adam" in name or name.startswith("aten::_foreach"),
}
LABELS = {
    "matrix products": "matrix products (mm, addmm, bmm)",
    "attention kernels": "attention kernels (SDPA)",
    "optimizer and clipping": "optimizer and gradient clipping (fused AdamW, foreach norms)",
    "other operators": "other operators (elementwise, norms, dropout, copies, loss)",
    "between operators": "between operators (Python, dispatch, profiler)",
}


def kind(name: str) -> str:
    return next((k for k, match in KINDS.items() if match(name)), "other operators")


def step_events(events, marker: str, warmup: int) -> tuple[list, list]:
    """The step markers after the first ``warmup``, and every operator event nested in one of them."""
    steps = sorted((e for e in events if e.name == marker), key=lambda e: e.time_range.start)[warmup:]
    kept, inside = {id(e) for e in steps}, {}

    def within(event) -> bool:
        chain = []
        while event is not None and id(event) not in inside and id(event) not in kept:
            chain.append(event)
            event = event.cpu_parent
        answer = event is not None and (id(event) in kept or inside[id(event)])
        inside.update((id(e), answer) for e in chain)
        return answer

    return steps, [e for e in events if e.name != marker and within(e)]


def breakdown(events, marker: str, warmup: int, matmul_rate: float) -> dict:
    """Shares of the step time by kind, the matrix products' FLOP/s, and the other operators that cost most."""
    steps, ops = step_events(events, marker, warmup)
    if not steps:
        raise ValueError(f"the profile holds no step after the first {warmup}: train more steps (--examples)")
    total = sum(e.cpu_time_total for e in steps)
    seconds, flops, others = defaultdict(float), 0.0, defaultdict(float)
    for e in (e for e in ops if e.name.startswith("aten::")):  # annotations and autograd nodes: time between operators
        k = kind(e.name)
        seconds[k] += e.self_cpu_time_total
        if k == "matrix products":
            flops += e.flops or 0
        elif k == "other operators":
            others[e.name] += e.self_cpu_time_total
    seconds["between operators"] = total - sum(seconds.values())
    matmul_seconds = seconds["matrix products"] / 1e6
    rate = flops / matmul_seconds if matmul_seconds else 0.0
    return {
        "steps": len(steps), "step_seconds": total / 1e6 / len(steps),
        "shares": {k: seconds[k] / total for k in LABELS},
        "matmul_flops_per_second": rate, "matmul_share_of_square_rate": rate / matmul_rate,
        "top_other": [{"name": n, "share": s / total} for n, s in sorted(others.items(), key=lambda x: -x[1])[:8]],
    }


def measure_profile(run_path: str, overrides: list[str], *, examples: int, warmup: int, out_dir: Path) -> dict:
    """One run of our loop on ``examples`` per task (the speed comparison's settings), profiled on the CPU."""
    from mtl_nlp.bench.speed import ceiling, one_epoch, ours
    from mtl_nlp.trainer import STEP

    run, base, _ = one_epoch(run_path, overrides, examples)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        ours(run_path, base, out_dir / "profiled")
    limit = ceiling(run.train.mixed_precision)
    result = breakdown(prof.events(), STEP, warmup, limit["flops_per_second"])
    return {**result, "examples_per_task": examples, "warmup_steps": warmup, "square_matmul_flops_per_second":
            limit["flops_per_second"], "threads": torch.get_num_threads(), "torch": torch.__version__}


def profile_table(result: dict) -> str:
    """The Markdown table of ``measure_profile``'s result."""
    rate, square = result["matmul_flops_per_second"], result["square_matmul_flops_per_second"]
    lines = [
        f"Our loop, {result['steps']} profiled steps after {result['warmup_steps']} of warm-up "
        f"({result['step_seconds'] * 1000:.0f} ms per step under the profiler), {result['threads']} threads. "
        f"Inside the matrix products: {rate / 1e9:.1f} GFLOP/s, {100 * result['matmul_share_of_square_rate']:.0f}% "
        f"of the square product's {square / 1e9:.1f} GFLOP/s measured in the same run.",
        "",
        "| part of the step | share of step time |",
        "| --- | ---: |",
    ]
    lines += [f"| {LABELS[k]} | {100 * share:.1f}% |" for k, share in result["shares"].items()]
    top = ", ".join(f"{o['name'].removeprefix('aten::')} {100 * o['share']:.1f}%" for o in result["top_other"])
    return "\n".join([*lines, "", f"Costliest other operators: {top}."]) + "\n"
