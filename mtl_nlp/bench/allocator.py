"""A long training run with evaluations under glibc's malloc and under jemalloc, side by side
(``scripts/benchmark_allocator.py``).

A long CPU run holds more and more memory under glibc (the four-task run: 2.3 GiB resident fresh, 4 GiB after a few
thousand steps, with a jump after each evaluation, whose batches of 128 free buffers of other sizes than training's).
Both allocators train the same run at the same time, each pinned to a core of its own with one thread, so the
machine's noise falls on both alike; with two rounds they swap cores. One thread a process is not how a user trains,
so ``alternate`` runs them one after another instead, each with every core, in the order A B, B A, A B, ... (a drift
of the machine falls on both). jemalloc is found on the machine (Debian: ``apt install libjemalloc2``) and preloaded
with ``LD_PRELOAD``, which must be set before a process starts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from mtl_nlp.allocator import find_jemalloc

ALLOCATORS = ("glibc", "jemalloc")


def measure_allocator(run_path: str, overrides: list[str], *, steps: int, eval_every: int, rounds: int,
                      out_dir: Path, malloc_conf: str = "", alternate: bool = False) -> dict:
    """Train ``steps`` steps (evaluating every ``eval_every``) under both allocators at once (one after another,
    every core each, with ``alternate``), ``rounds`` times; jemalloc with ``malloc_conf`` as its ``MALLOC_CONF``
    (empty: jemalloc's own defaults)."""
    library = find_jemalloc()
    if library is None:
        raise FileNotFoundError("the dynamic loader finds no jemalloc library; on Debian or Ubuntu: apt install libjemalloc2")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 and not alternate:
        raise RuntimeError("the allocator comparison runs both allocators at once, on a core each: it needs two cores")
    base = [*overrides, f"train.max_steps={steps}", f"train.eval_every={eval_every}"]

    def launch(name: str, r: int, placed: list[int]) -> subprocess.Popen:
        return start(run_path, base, out_dir / f"allocator_{name}-{r}", placed, library if name == "jemalloc" else None,
                     malloc_conf)

    per_round = []
    for r in range(rounds):
        if alternate:
            order = ALLOCATORS if r % 2 == 0 else ALLOCATORS[::-1]
            per_round.append({name: finish(launch(name, r, cores), name) for name in order})
        else:
            children = {name: launch(name, r, [cores[(i + r) % 2]]) for i, name in enumerate(ALLOCATORS)}
            per_round.append({name: finish(child, name) for name, child in children.items()})
    settings = {name: summarise([r[name] for r in per_round]) for name in ALLOCATORS}
    ratios = [r["glibc"]["seconds"] / r["glibc"]["steps"] / (r["jemalloc"]["seconds"] / r["jemalloc"]["steps"])
              for r in per_round]
    return {"steps": steps, "eval_every": eval_every, "rounds": rounds, "alternate": alternate, "jemalloc": library,
            "malloc_conf": malloc_conf, "settings": settings,
            "speedup_jemalloc": statistics.mean(ratios), "speedup_per_round": ratios,
            "memory_ratio_jemalloc": settings["jemalloc"]["peak_memory_bytes"] / settings["glibc"]["peak_memory_bytes"],
            "rounds_raw": per_round}


def start(run_path: str, overrides: list[str], out_dir: Path, cores: list[int], preload: str | None,
          malloc_conf: str) -> subprocess.Popen:
    """One training in a fresh process on ``cores`` with a thread each, jemalloc preloaded when ``preload`` names it."""
    threads = str(len(cores))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    for name in ("LD_PRELOAD", "MALLOC_CONF"):
        env.pop(name, None)
    if preload:
        env["LD_PRELOAD"], env["MALLOC_CONF"] = preload, malloc_conf
    out_dir.mkdir(parents=True, exist_ok=True)
    code = ("import sys; from mtl_nlp.bench.allocator import child; "
            "child(sys.argv[1], sys.argv[2:-2], sys.argv[-2], [int(c) for c in sys.argv[-1].split(',')])")
    log = (out_dir / "child.log").open("w")
    return subprocess.Popen([sys.executable, "-c", code, run_path, *overrides, str(out_dir), ",".join(map(str, cores))],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, name: str) -> dict:
    out_dir = Path(process.args[-2])
    if process.wait() != 0:
        tail = (out_dir / "child.log").read_text()[-3000:]
        raise RuntimeError(f"the timed run under {name} failed (log {out_dir / 'child.log'}):\n{tail}")
    return json.loads((out_dir / "timing.json").read_text())


def child(run_path: str, overrides: list[str], out_dir: str, cores: list[int]) -> None:
    """The body of :func:`start`: pin, train (the trainer measures time, tokens and this process's peak memory), and
    say which allocator the process really ran with."""
    import torch

    from mtl_nlp.trainer import train
    from mtl_nlp.validation import validate_run

    os.sched_setaffinity(0, set(cores))
    torch.set_num_threads(len(cores))
    metrics = json.loads((train(validate_run(run_path, [*overrides, f"output_dir={out_dir}"])) / "metrics.json").read_text())
    result = {"seconds": metrics["train_seconds"], "eval_seconds": metrics["eval_seconds"], "steps": metrics["steps"],
              "tokens": metrics["train_tokens"], "peak_memory_bytes": metrics["peak_memory_bytes"], "cores": cores,
              "threads": torch.get_num_threads(),
              "allocator": metrics["allocator"], "malloc_conf": os.environ.get("MALLOC_CONF"), "pid": os.getpid()}
    (Path(out_dir) / "timing.json").write_text(json.dumps(result) + "\n")


def summarise(runs: list[dict]) -> dict:
    return {"seconds_per_step": statistics.mean(r["seconds"] / r["steps"] for r in runs),
            "per_round": [r["seconds"] / r["steps"] for r in runs],
            "tokens_per_second": statistics.mean(r["tokens"] / r["seconds"] for r in runs),
            "eval_seconds": statistics.mean(r["eval_seconds"] for r in runs),
            "peak_memory_bytes": max(r["peak_memory_bytes"] for r in runs)}


def allocator_table(result: dict) -> str:
    count = f"{result['rounds']} round(s)"
    if result.get("alternate"):
        how = f"one after another, each with every core ({count}, in the order A B, B A, ...)"
    else:
        how = f"at once, each on a core of its own with one thread ({count}{', swapping cores' if result['rounds'] > 1 else ''})"
    lines = [
        f"{result['steps']} training steps, evaluating every {result['eval_every']}, under both allocators {how}; "
        "jemalloc's `MALLOC_CONF`: "
        f"{'`' + result['malloc_conf'] + '`' if result['malloc_conf'] else 'its defaults'}.",
        "",
        "| allocator | training s/step (mean) | per round | useful tokens/s | evaluation s | peak resident memory (GiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in result["settings"].items():
        lines.append(f"| {name} | {s['seconds_per_step']:.3f} | {', '.join(f'{x:.3f}' for x in s['per_round'])} | "
                     f"{s['tokens_per_second']:.0f} | {s['eval_seconds']:.0f} | {s['peak_memory_bytes'] / 2**30:.2f} |")
    rounds = ", ".join(f"{x:.2f}" for x in result["speedup_per_round"])
    lines += ["", f"jemalloc against glibc: {result['speedup_jemalloc']:.2f}x the training speed ({rounds} by round), "
              f"{result['memory_ratio_jemalloc']:.2f}x the peak resident memory."]
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: Path) -> str:
    """allocator.json and allocator.md (the command and the table); returns the Markdown."""
    text = f"Command: `{result['command']}`\n\n" + allocator_table(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "allocator.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "allocator.md").write_text(text)
    return text
