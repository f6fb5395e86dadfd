import random

import pytest
import torch
from torch import nn

from mtl_nlp.gradients import TaskGradients, cosine_matrix, pcgrad, probe_cosines


def test_pcgrad_leaves_no_conflicting_pair_between_two_tasks():
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(20, generator=g), torch.randn(20, generator=g)
        combined, _ = pcgrad([a, b], random.Random(seed))
        # Each projected gradient, as the paper defines it (with two tasks the order of the others cannot matter).
        pa = a - (min(0.0, float(a @ b)) / float(b @ b)) * b
        pb = b - (min(0.0, float(a @ b)) / float(a @ a)) * a
        assert float(pa @ b) >= -1e-5 and float(pb @ a) >= -1e-5 and float(pa @ pb) >= -1e-5
        assert torch.allclose(combined, pa + pb, atol=1e-5)


def test_pcgrad_leaves_agreeing_gradients_untouched():
    grads = [torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 0.0, 1.0]), torch.tensor([2.0, 1.0, 1.0])]
    combined, conflicts = pcgrad(grads, random.Random(0))
    assert conflicts == 0 and torch.equal(combined, sum(grads))


def test_pcgrad_projects_a_conflict_onto_the_normal_plane():
    combined, conflicts = pcgrad([torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])], random.Random(0))
    # g1' = g1 - (-1/2) g2 = [0.5, 0.5]; g2' = g2 - (-1/1) g1 = [0, 1]
    assert conflicts == 2 and torch.allclose(combined, torch.tensor([0.5, 1.5]))


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(3, 3)
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})
        self.drop = nn.Dropout(0.5)

    def loss(self, task: str, x: torch.Tensor) -> torch.Tensor:
        return self.heads[task](self.drop(self.shared(x))).pow(2).mean()


def test_collected_sum_equals_plain_backward_and_pcgrad_spares_the_heads():
    torch.manual_seed(0)
    model, x = TwoHeads().eval(), torch.randn(4, 3)
    (model.loss("a", x) + model.loss("b", -x)).backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    for kind in ("sum", "pcgrad"):
        gradients = TaskGradients(model, kind)
        for task, inputs in (("a", x), ("b", -x)):
            model.loss(task, inputs).backward()
            gradients.collect(task)
        assert all(p.grad is None for p in model.parameters())
        assert [model_param_name(model, k) for k in gradients.shared_indices()] == ["shared.weight", "shared.bias"]
        gradients.write_back()
        for name, p in model.named_parameters():
            if kind == "sum" or name.startswith("heads."):
                assert torch.allclose(p.grad, plain[name]), (kind, name)
        model.zero_grad(set_to_none=True)


def model_param_name(model: nn.Module, index: int) -> str:
    return [n for n, p in model.named_parameters() if p.requires_grad][index]


def test_cosines_of_equal_and_opposite_gradients():
    m = cosine_matrix({"a": torch.tensor([1.0, 1.0]), "b": torch.tensor([2.0, 2.0]), "c": torch.tensor([-1.0, -1.0])})
    assert m["a"]["b"] == pytest.approx(1.0) and m["a"]["c"] == pytest.approx(-1.0) and m["c"]["c"] == pytest.approx(1.0)


def test_a_probe_leaves_no_gradient_and_the_random_state_as_it_was():
    torch.manual_seed(1)
    model, x = TwoHeads().train(), torch.randn(4, 3)
    state = torch.random.get_rng_state()
    matrix = probe_cosines(model, {"a": lambda: model.loss("a", x), "b": lambda: model.loss("b", x)})
    assert torch.equal(torch.random.get_rng_state(), state) and all(p.grad is None for p in model.parameters())
    assert set(matrix) == {"a", "b"} and -1 <= matrix["a"]["b"] <= 1 and matrix["a"]["a"] == pytest.approx(1.0)
