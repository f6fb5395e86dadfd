"""Which memory allocator a command runs with: glibc's malloc, or jemalloc on request, preloaded by running the
command again (``LD_PRELOAD`` must be set before a process starts).

``MTL_NLP_ALLOCATOR=jemalloc`` ran the four-task CPU run at 1.07x glibc's speed in 0.64x its peak resident memory
(one round of 600 steps, side by side; ``benchmarks/cpu-2core-speed-allocator/no-decay/``). glibc stays the default
until more rounds agree. Debian and Ubuntu install jemalloc with ``apt install libjemalloc2``.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

SETTING = "MTL_NLP_ALLOCATOR"
# jemalloc keeps every page it has freed for reuse (no decay) and puts buffers of 8 MiB and more in its usual arenas
# (its oversize arena would hand them back at once): with its own defaults it gave freed pages back and faulted them in
# again every step, tens of thousands of page faults a second, and trained slower than glibc.
MALLOC_CONF = "oversize_threshold:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def find_jemalloc() -> str | None:
    """jemalloc's library name as the dynamic loader knows it (``libjemalloc.so.2``, which ``LD_PRELOAD`` accepts),
    or None where it is not installed."""
    return ctypes.util.find_library("jemalloc")


def preload_jemalloc() -> None:
    """With ``MTL_NLP_ALLOCATOR=jemalloc``, replace this process by the same command with jemalloc preloaded (set by
    ``MALLOC_CONF`` unless the user set their own), unless it already is. Call it before anything else runs."""
    setting = os.environ.get(SETTING, "system")
    if setting not in ("jemalloc", "system"):
        sys.exit(f"error: {SETTING}={setting!r}: use system (glibc's malloc, the default) or jemalloc")
    preloaded = os.environ.get("LD_PRELOAD", "")
    if setting == "system" or "jemalloc" in preloaded:
        return
    library = find_jemalloc()
    if library is None:
        sys.exit(f"error: {SETTING}=jemalloc, but the dynamic loader finds no jemalloc library. Install it (Debian, "
                 f"Ubuntu: apt install libjemalloc2), or unset {SETTING}")
    env = {"MALLOC_CONF": MALLOC_CONF, **os.environ, "LD_PRELOAD": ":".join(p for p in (library, preloaded) if p)}
    os.execve(sys.executable, sys.orig_argv, env)
