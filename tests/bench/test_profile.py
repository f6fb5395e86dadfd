from dataclasses import dataclass, field

import pytest

from mtl_nlp.bench.profile import LABELS, breakdown, kind, measure_profile, profile_table
from mtl_nlp.bench.speed import write


@dataclass
class Span:
    start: int


@dataclass
class Event:
    """The few fields of torch.profiler's FunctionEvent that the breakdown reads (times in microseconds)."""

    name: str
    self_cpu_time_total: float
    cpu_parent: "Event | None" = None
    flops: int = 0
    start: int = 0
    cpu_time_total: float = 0.0
    time_range: Span = field(init=False)

    def __post_init__(self):
        self.time_range = Span(self.start)


def test_operators_are_sorted_into_kinds_by_their_aten_name():
    assert kind("aten::addmm") == kind("aten::mm") == kind("aten::bmm") == "matrix products"
    assert kind("aten::_scaled_dot_product_flash_attention_for_cpu_backward") == "attention kernels"
    assert kind("aten::_fused_adamw_") == kind("aten::_foreach_norm") == "optimizer and clipping"
    assert kind("aten::gelu") == kind("aten::native_layer_norm") == "other operators"


def test_only_operators_inside_steps_after_warm_up_count_and_the_shares_add_up():
    """Two steps of 1000 us; the first is warm-up. In the second: an addmm of 2e8 FLOPs in 400 us (500 GFLOP/s,
    half a 1e12 square rate), a gelu of 100 us under an autograd node whose own time counts as between operators,
    the optimiser 200 us; the remaining 300 us are between operators. Operators outside any step never count."""
    warm = Event("mtl_nlp.train_step", 1000, start=0, cpu_time_total=1000)
    step = Event("mtl_nlp.train_step", 50, start=5000, cpu_time_total=1000)
    node = Event("GeluBackward0", 20, cpu_parent=step)
    events = [
        warm, Event("aten::addmm", 900, cpu_parent=warm, flops=10**9),
        step, Event("aten::addmm", 400, cpu_parent=step, flops=2 * 10**8), node,
        Event("aten::gelu", 100, cpu_parent=node), Event("aten::_fused_adamw_", 200, cpu_parent=step),
        Event("aten::addmm", 5000), Event("aten::copy_", 70, cpu_parent=Event("outside", 0)),
    ]
    result = breakdown(events, "mtl_nlp.train_step", warmup=1, matmul_rate=1e12)
    assert result["steps"] == 1 and result["step_seconds"] == pytest.approx(1e-3)
    assert result["shares"] == pytest.approx({"matrix products": 0.4, "attention kernels": 0.0, "optimizer and clipping": 0.2,
                                              "other operators": 0.1, "between operators": 0.3})
    assert result["matmul_flops_per_second"] == pytest.approx(5e11) and result["matmul_share_of_square_rate"] == pytest.approx(0.5)
    assert result["top_other"] == [{"name": "aten::gelu", "share": pytest.approx(0.1)}]
    with pytest.raises(ValueError, match="no step after the first 2"):
        breakdown(events, "mtl_nlp.train_step", warmup=2, matmul_rate=1e12)


def test_a_profiled_run_of_our_loop_finds_its_steps_and_reports_them(tiny_run, demo_dir, tmp_path):
    """Tiny encoder, three demo tasks of 8 examples in batches of 4: six steps, two of them warm-up."""
    result = measure_profile(str(tiny_run()), [f"data_dir={demo_dir}"], examples=8, warmup=2, out_dir=tmp_path / "p")
    assert result["steps"] == 4 and set(result["shares"]) == set(LABELS)
    assert sum(result["shares"].values()) == pytest.approx(1.0)
    assert result["shares"]["matrix products"] > 0 and result["shares"]["optimizer and clipping"] > 0
    assert result["matmul_flops_per_second"] > 0 and result["top_other"]
    text = write({"command": "cmd", "profile": result}, tmp_path / "report")
    assert profile_table(result) in text and "| matrix products (mm, addmm, bmm) |" in text
