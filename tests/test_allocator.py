import os
import subprocess
import sys

import pytest

import mtl_nlp.allocator
from mtl_nlp.allocator import MALLOC_CONF, SETTING, preload_jemalloc

LOADED = ("import os; from mtl_nlp.allocator import preload_jemalloc; preload_jemalloc(); "
          "print('libjemalloc' in open('/proc/self/maps').read(), os.environ.get('MALLOC_CONF'))")


@pytest.fixture
def execs(monkeypatch):
    calls = []
    monkeypatch.setattr(mtl_nlp.allocator.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv(SETTING, raising=False)
    monkeypatch.delenv("MALLOC_CONF", raising=False)
    return calls


def test_asked_for_jemalloc_the_same_command_runs_again_with_it_preloaded(jemalloc, execs, monkeypatch):
    monkeypatch.setenv(SETTING, "jemalloc")
    preload_jemalloc()
    ((path, argv, env),) = execs
    assert (path, argv, env["LD_PRELOAD"], env[SETTING]) == (sys.executable, sys.orig_argv, jemalloc, "jemalloc")
    assert env["MALLOC_CONF"] == MALLOC_CONF
    execs.clear()
    monkeypatch.setenv("LD_PRELOAD", "/opt/other.so")  # a library the user preloads stays, after jemalloc
    monkeypatch.setenv("MALLOC_CONF", "narenas:2")  # and so does the user's own jemalloc configuration
    preload_jemalloc()
    assert (execs[0][2]["LD_PRELOAD"], execs[0][2]["MALLOC_CONF"]) == (f"{jemalloc}:/opt/other.so", "narenas:2")


@pytest.mark.parametrize("case", ["default", "system", "already preloaded"])
def test_nothing_runs_again_by_default_for_glibc_or_once_preloaded(case, jemalloc, execs, monkeypatch):
    if case != "default":
        monkeypatch.setenv(SETTING, "system" if case == "system" else "jemalloc")
    if case == "already preloaded":
        monkeypatch.setenv("LD_PRELOAD", jemalloc)
    preload_jemalloc()
    assert execs == []


def test_an_unknown_setting_or_a_missing_library_is_a_clear_error(execs, monkeypatch):
    monkeypatch.setenv(SETTING, "tcmalloc")
    with pytest.raises(SystemExit, match="MTL_NLP_ALLOCATOR='tcmalloc': use system .* or jemalloc"):
        preload_jemalloc()
    monkeypatch.setenv(SETTING, "jemalloc")
    monkeypatch.setattr(mtl_nlp.allocator.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SystemExit, match="finds no jemalloc library.*apt install libjemalloc2"):
        preload_jemalloc()
    assert execs == []


def test_a_real_process_asked_for_jemalloc_runs_on_it_and_otherwise_on_glibc(jemalloc):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", SETTING, "MALLOC_CONF")}
    for setting, loaded in ((None, "False None"), ("jemalloc", f"True {MALLOC_CONF}"), ("system", "False None")):
        run_env = env if setting is None else {**env, SETTING: setting}
        ran = subprocess.run([sys.executable, "-c", LOADED], env=run_env, capture_output=True, text=True, check=True)
        assert ran.stdout.strip() == loaded, setting
