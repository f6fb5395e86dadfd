import os
import subprocess
import sys

import pytest

import mtl_nlp.allocator
from mtl_nlp.allocator import MALLOC_CONF, SETTING, allocator_in_use, allocator_note, preload_jemalloc

LOADED = ("import os; from mtl_nlp.allocator import allocator_in_use, preload_jemalloc; preload_jemalloc(); "
          "print('libjemalloc' in open('/proc/self/maps').read(), os.environ.get('MALLOC_CONF'), allocator_in_use())")


@pytest.fixture
def execs(monkeypatch):
    calls = []
    monkeypatch.setattr(mtl_nlp.allocator.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv(SETTING, raising=False)
    monkeypatch.delenv("MALLOC_CONF", raising=False)
    return calls


@pytest.mark.parametrize("setting", [None, "auto", "jemalloc"])
def test_by_default_or_asked_for_the_same_command_runs_again_with_jemalloc_preloaded(setting, jemalloc, execs, monkeypatch):
    if setting:
        monkeypatch.setenv(SETTING, setting)
    preload_jemalloc()
    ((path, argv, env),) = execs
    assert (path, argv, env["LD_PRELOAD"], env.get(SETTING)) == (sys.executable, sys.orig_argv, jemalloc, setting)
    assert env["MALLOC_CONF"] == MALLOC_CONF


def test_asked_for_jemalloc_the_users_preload_and_configuration_stay(jemalloc, execs, monkeypatch):
    monkeypatch.setenv(SETTING, "jemalloc")
    monkeypatch.setenv("LD_PRELOAD", "/opt/other.so")  # a library the user preloads stays, after jemalloc
    monkeypatch.setenv("MALLOC_CONF", "narenas:2")  # and so does the user's own jemalloc configuration
    preload_jemalloc()
    assert (execs[0][2]["LD_PRELOAD"], execs[0][2]["MALLOC_CONF"]) == (f"{jemalloc}:/opt/other.so", "narenas:2")


@pytest.mark.parametrize("case", ["system", "already preloaded", "auto, the user preloads", "auto, not installed"])
def test_nothing_runs_again_for_glibc_once_preloaded_or_when_auto_must_not(case, jemalloc, execs, monkeypatch):
    monkeypatch.setenv(SETTING, {"system": "system", "already preloaded": "jemalloc"}.get(case, "auto"))
    if case == "already preloaded":
        monkeypatch.setenv("LD_PRELOAD", jemalloc)
    if case == "auto, the user preloads":
        monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libtcmalloc_minimal.so.4")
    if case == "auto, not installed":
        monkeypatch.setattr(mtl_nlp.allocator.ctypes.util, "find_library", lambda name: None)
    preload_jemalloc()
    assert execs == []


def test_an_unknown_setting_or_a_missing_library_asked_for_is_a_clear_error(execs, monkeypatch):
    monkeypatch.setenv(SETTING, "tcmalloc")
    with pytest.raises(SystemExit, match="MTL_NLP_ALLOCATOR='tcmalloc': use auto .*, jemalloc or system"):
        preload_jemalloc()
    monkeypatch.setenv(SETTING, "jemalloc")
    monkeypatch.setattr(mtl_nlp.allocator.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SystemExit, match="finds no jemalloc library.*apt install libjemalloc2"):
        preload_jemalloc()
    assert execs == []


def test_a_real_process_runs_on_jemalloc_by_default_and_on_glibc_when_told(jemalloc):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", SETTING, "MALLOC_CONF")}
    ran_on = [(None, f"True {MALLOC_CONF} jemalloc"), ("jemalloc", f"True {MALLOC_CONF} jemalloc"),
              ("system", "False None system")]
    for setting, loaded in ran_on:
        run_env = env if setting is None else {**env, SETTING: setting}
        ran = subprocess.run([sys.executable, "-c", LOADED], env=run_env, capture_output=True, text=True, check=True)
        assert ran.stdout.strip() == loaded, setting


def test_the_allocator_in_use_is_read_from_the_libraries_mapped_into_the_process(monkeypatch, tmp_path):
    maps = tmp_path / "maps"
    monkeypatch.setattr(mtl_nlp.allocator, "Path", lambda path: maps if path == "/proc/self/maps" else path)
    for mapped, expected in (("/usr/lib/libc.so.6", "system"), ("/usr/lib/libtcmalloc_minimal.so.4", "tcmalloc"),
                             ("/lib/x86_64-linux-gnu/libjemalloc.so.2", "jemalloc")):
        maps.write_text(f"7f00-7f01 r-xp 0 08:01 1 {mapped}\n")
        assert allocator_in_use() == expected
    maps.unlink()  # no /proc (not Linux)
    assert allocator_in_use() == "system"


def test_the_log_names_the_allocator_and_the_fix_only_where_jemalloc_is_missing(monkeypatch):
    monkeypatch.setattr(mtl_nlp.allocator, "allocator_in_use", lambda: "system")
    monkeypatch.setattr(mtl_nlp.allocator, "find_jemalloc", lambda: None)
    assert allocator_note() == ("memory allocator: system (CPU training runs faster in less memory on jemalloc: apt "
                                "install libjemalloc2)")
    monkeypatch.setattr(mtl_nlp.allocator, "find_jemalloc", lambda: "libjemalloc.so.2")  # installed, and declined
    assert allocator_note() == "memory allocator: system"
    monkeypatch.setattr(mtl_nlp.allocator, "allocator_in_use", lambda: "jemalloc")
    assert allocator_note() == "memory allocator: jemalloc"
