"""Which memory allocator a command runs with: jemalloc where it is installed, else glibc's malloc. jemalloc is
preloaded by running the command again (``LD_PRELOAD`` must be set before a process starts).

On the four-task CPU run jemalloc (kept from handing freed pages back) trained at 1.12x glibc's speed in 0.60x its peak
resident memory, with the same dev scores (two rounds side by side, ``benchmarks/cpu-2core-speed-allocator/``).
``MTL_NLP_ALLOCATOR``: ``auto`` (the default: jemalloc if the loader finds it, else glibc, and a command whose
``LD_PRELOAD`` is already set is left alone), ``jemalloc`` (or a clear error) or ``system`` (glibc). Debian and
Ubuntu install jemalloc with ``apt install libjemalloc2``.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

SETTING = "MTL_NLP_ALLOCATOR"
SETTINGS = ("auto", "jemalloc", "system")
# jemalloc keeps every page it has freed for reuse (no decay) and puts buffers of 8 MiB and more in its usual arenas
# (its oversize arena would hand them back at once): with its own defaults it gave freed pages back and faulted them in
# again every step, tens of thousands of page faults a second, and trained slower than glibc.
MALLOC_CONF = "oversize_threshold:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def find_jemalloc() -> str | None:
    """jemalloc's library name as the dynamic loader knows it (``libjemalloc.so.2``, which ``LD_PRELOAD`` accepts),
    or None where it is not installed."""
    return ctypes.util.find_library("jemalloc")


def preload_jemalloc() -> None:
    """Replace this process by the same command with jemalloc preloaded (set by ``MALLOC_CONF`` unless the user set
    their own) when ``MTL_NLP_ALLOCATOR`` and the machine allow it and it is not preloaded yet. Call it before anything
    else runs."""
    setting = os.environ.get(SETTING, "auto")
    if setting not in SETTINGS:
        sys.exit(f"error: {SETTING}={setting!r}: use auto (jemalloc where installed, the default), jemalloc or system "
                 "(glibc's malloc)")
    preloaded = os.environ.get("LD_PRELOAD", "")
    if setting == "system" or "jemalloc" in preloaded:
        return
    if setting == "auto" and (preloaded or not sys.platform.startswith("linux")):  # the user's preload, or no LD_PRELOAD
        return
    library = find_jemalloc()
    if library is None:
        if setting == "auto":
            return
        sys.exit(f"error: {SETTING}=jemalloc, but the dynamic loader finds no jemalloc library. Install it (Debian, "
                 f"Ubuntu: apt install libjemalloc2), or unset {SETTING}")
    env = {"MALLOC_CONF": MALLOC_CONF, **os.environ, "LD_PRELOAD": ":".join(p for p in (library, preloaded) if p)}
    os.execve(sys.executable, sys.orig_argv, env)


def allocator_in_use() -> str:
    """The allocator this process runs on, as the libraries mapped into it show: jemalloc or tcmalloc (preloaded), else
    system (glibc's malloc on Linux). Recorded with a run, since it changes its speed and memory."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        return "system"
    return next((name for name in ("jemalloc", "tcmalloc") if f"lib{name}" in maps), "system")


def allocator_note() -> str:
    """The log line naming the allocator, with the fix where a CPU run could have had jemalloc."""
    name = allocator_in_use()
    if name == "system" and find_jemalloc() is None:
        return "memory allocator: system (CPU training runs faster in less memory on jemalloc: apt install libjemalloc2)"
    return f"memory allocator: {name}"
