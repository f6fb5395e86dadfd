"""Large CPU tensors on transparent huge pages, on against off (``scripts/benchmark_speed.py --parts huge_pages``).

The step allocates some tensors anew every time, the word-embedding gradient the largest (30,522 x 384 floats, 47 MB,
zero-filled each backward), and the profile counts that filling as ``fill_``. PyTorch puts buffers of 2 MB or more on
huge pages when ``THP_MEM_ALLOC_ENABLE`` is set, reading it once at a process's first allocation, so each setting
trains in a process of its own, alternated A B A B. Nothing in the package sets it: measured here, it did not pay
(benchmarks/cpu-2core-speed-huge-pages/).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SETTING = "THP_MEM_ALLOC_ENABLE"
VALUES = {"0": "off (4 KiB pages)", "1": "on (2 MiB pages for buffers of 2 MB or more)"}


def measure_huge_pages(run_path: str, overrides: list[str], *, examples: int, rounds: int, out_dir: Path) -> dict:
    """Our loop's useful tokens per second with huge pages off and on, ``rounds`` times alternated, each process also
    measuring the matrix-product rate it is held against."""
    from mtl_nlp.bench.speed import data_path, one_epoch

    run, base, steps = one_epoch(run_path, overrides, examples)
    per_round = [{value: in_process(run_path, base, out_dir / f"huge_pages_{value}-{r}", value) for value in VALUES}
                 for r in range(rounds)]
    flops = data_path(run_path, base)["flops_per_token"]
    # One ceiling for both settings, the mean of every process's 3-second measurement (one alone is noisy here).
    rate = statistics.mean(r[value]["matmul_flops_per_second"] for r in per_round for value in VALUES)
    settings = {}
    for value, label in VALUES.items():
        speeds = [r[value]["tokens"] / r[value]["seconds"] for r in per_round]
        settings[value] = {"label": label, "tokens_per_second": statistics.mean(speeds), "per_round": speeds,
                           "flops_per_second": statistics.mean(speeds) * flops,
                           "matmul_share": statistics.mean(speeds) * flops / rate,
                           "matmul_rate_per_round": [r[value]["matmul_flops_per_second"] for r in per_round],
                           "peak_memory_bytes": max(r[value]["peak_memory_bytes"] for r in per_round)}
    ratios = [r["1"]["tokens"] / r["1"]["seconds"] / (r["0"]["tokens"] / r["0"]["seconds"]) for r in per_round]
    return {"tasks": [c.name for c in run.tasks], "examples_per_task": examples, "steps": steps, "rounds": rounds,
            "training_flops_per_token": flops, "matmul_flops_per_second": rate, "settings": settings,
            "ratio_on_to_off": statistics.mean(ratios), "ratio_per_round": ratios, "rounds_raw": per_round}


def in_process(run_path: str, overrides: list[str], out_dir: Path, value: str) -> dict:
    """One timed training of our loop in a fresh Python process with ``SETTING`` at ``value``."""
    code = "import sys; from mtl_nlp.bench.huge_pages import child; child(sys.argv[1], sys.argv[2:-1], sys.argv[-1])"
    done = subprocess.run([sys.executable, "-c", code, run_path, *overrides, str(out_dir)], env={**os.environ, SETTING: value},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the timed run with {SETTING}={value} failed:\n{done.stderr[-3000:]}")
    return json.loads((out_dir / "timing.json").read_text())


def child(run_path: str, overrides: list[str], out_dir: str) -> None:
    """The body of :func:`in_process`: train (the trainer measures this process's peak memory), then time the square
    product under the same setting."""
    from mtl_nlp.bench.speed import ceiling, ours
    from mtl_nlp.validation import validate_run

    result = ours(run_path, overrides, Path(out_dir))
    result["matmul_flops_per_second"] = ceiling(validate_run(run_path, overrides).train.mixed_precision)["flops_per_second"]
    result[SETTING], result["pid"] = os.environ.get(SETTING), os.getpid()
    (Path(out_dir) / "timing.json").write_text(json.dumps(result) + "\n")


def huge_pages_table(result: dict) -> str:
    lines = [
        f"Our loop on {', '.join(result['tasks'])}: {result['examples_per_task']} examples each ({result['steps']} steps), "
        f"{result['rounds']} alternated rounds, each setting in a fresh process that also times the square fp32 product: "
        f"{result['matmul_flops_per_second'] / 1e9:.1f} GFLOP/s, the mean of those, is the rate the step is held against.",
        "",
        f"| `{SETTING}` | useful tokens/s (mean of rounds) | per round | GFLOP/s | of matmul rate | peak resident memory (GiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for value, s in result["settings"].items():
        lines.append(f"| {value}: {s['label']} | {s['tokens_per_second']:.0f} | {', '.join(f'{x:.0f}' for x in s['per_round'])} | "
                     f"{s['flops_per_second'] / 1e9:.1f} | {100 * s['matmul_share']:.0f}% | {s['peak_memory_bytes'] / 2**30:.2f} |")
    rounds = ", ".join(f"{x:.2f}" for x in result["ratio_per_round"])
    lines += ["", f"On against off: {result['ratio_on_to_off']:.2f}x the useful tokens per second ({rounds} by round)."]
    return "\n".join(lines) + "\n"
