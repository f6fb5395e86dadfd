import json
import os

from mtl_nlp.bench.huge_pages import SETTING, huge_pages_table, measure_huge_pages
from mtl_nlp.bench.speed import write


def test_each_setting_trains_in_its_own_process_and_the_table_compares_them(tiny_run, demo_dir, tmp_path):
    result = measure_huge_pages(str(tiny_run()), [f"data_dir={demo_dir}"], examples=8, rounds=1, out_dir=tmp_path / "hp")
    (timed,) = result["rounds_raw"]
    assert {value: timed[value][SETTING] for value in timed} == {"0": "0", "1": "1"}  # what each child process ran with
    assert len({os.getpid(), timed["0"]["pid"], timed["1"]["pid"]}) == 3  # each setting in a fresh process of its own
    for value, setting in result["settings"].items():
        assert timed[value]["tokens"] > 0 and setting["tokens_per_second"] == timed[value]["tokens"] / timed[value]["seconds"]
        assert 0 < setting["matmul_share"] and setting["flops_per_second"] > 0
        # the memory is the child's own training run's, as its trainer measured it, not this process's
        child_metrics = json.loads((tmp_path / "hp" / f"huge_pages_{value}-0" / "metrics.json").read_text())
        assert setting["peak_memory_bytes"] == child_metrics["peak_memory_bytes"] > 2**20
    assert result["ratio_on_to_off"] == result["settings"]["1"]["tokens_per_second"] / result["settings"]["0"]["tokens_per_second"]
    markdown = write({"command": "x", "huge_pages": result}, tmp_path / "out")
    assert huge_pages_table(result) in markdown and f"`{SETTING}`" in markdown
