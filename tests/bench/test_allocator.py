import os

import pytest

import mtl_nlp.allocator
from mtl_nlp.bench.allocator import allocator_table, measure_allocator, write


def test_both_allocators_train_at_once_each_pinned_and_the_table_compares_them(jemalloc, tiny_run, demo_dir, tmp_path):
    result = measure_allocator(str(tiny_run()), [f"data_dir={demo_dir}"], steps=4, eval_every=2, rounds=2,
                               out_dir=tmp_path / "al", malloc_conf="narenas:2")
    first, second = result["rounds_raw"]
    # what each child really ran with (LD_PRELOAD took effect), one thread pinned to a core, swapped in round two
    assert {name: first[name]["allocator"] for name in first} == {"glibc": "system", "jemalloc": "jemalloc"}
    assert (first["glibc"]["malloc_conf"], first["jemalloc"]["malloc_conf"]) == (None, "narenas:2")
    assert len(first["glibc"]["cores"]) == 1 and first["glibc"]["cores"] != first["jemalloc"]["cores"]
    assert (second["glibc"]["cores"], second["jemalloc"]["cores"]) == (first["jemalloc"]["cores"], first["glibc"]["cores"])
    assert {r[name]["threads"] for r in (first, second) for name in r} == {1}
    assert len({os.getpid(), *(r[name]["pid"] for r in (first, second) for name in r)}) == 5
    for name, setting in result["settings"].items():
        assert first[name]["steps"] == 4 and first[name]["eval_seconds"] > 0  # the run evaluated, and that time is apart
        assert setting["seconds_per_step"] == (first[name]["seconds"] / 4 + second[name]["seconds"] / 4) / 2
    assert result["speedup_jemalloc"] == pytest.approx(sum(r["glibc"]["seconds"] / r["jemalloc"]["seconds"] for r in (first, second)) / 2)
    peaks = {name: max(r[name]["peak_memory_bytes"] for r in (first, second)) for name in first}
    assert result["memory_ratio_jemalloc"] == peaks["jemalloc"] / peaks["glibc"] and peaks["glibc"] > 2**20
    markdown = write({"command": "x", **result}, tmp_path / "out")
    assert allocator_table(result) in markdown and "| jemalloc |" in markdown and "`narenas:2`" in markdown
    assert (tmp_path / "out" / "allocator.md").read_text() == markdown and (tmp_path / "out" / "allocator.json").is_file()


def test_alternating_runs_them_one_after_another_with_every_core_in_turned_order(jemalloc, tiny_run, demo_dir,
                                                                                 tmp_path):
    result = measure_allocator(str(tiny_run()), [f"data_dir={demo_dir}"], steps=2, eval_every=2, rounds=2,
                               out_dir=tmp_path / "al", malloc_conf="narenas:2", alternate=True)
    cores = sorted(os.sched_getaffinity(0))
    for r in result["rounds_raw"]:
        assert {name: (r[name]["cores"], r[name]["threads"]) for name in r} == {n: (cores, len(cores)) for n in r}
        assert (r["glibc"]["allocator"], r["jemalloc"]["allocator"]) == ("system", "jemalloc")
    # A B, then B A, one after another: each child writes its timing.json as it ends
    started = [[(tmp_path / "al" / f"allocator_{name}-{i}" / "timing.json").stat().st_mtime for name in ("glibc", "jemalloc")]
               for i in range(2)]
    assert started[0][0] < started[0][1] and started[1][1] < started[1][0]
    assert "one after another, each with every core" in allocator_table(result)


def test_a_machine_without_jemalloc_is_told_how_to_install_it(monkeypatch, tiny_run, demo_dir, tmp_path):
    monkeypatch.setattr(mtl_nlp.allocator.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt install libjemalloc2"):
        measure_allocator(str(tiny_run()), [f"data_dir={demo_dir}"], steps=4, eval_every=2, rounds=1, out_dir=tmp_path)
