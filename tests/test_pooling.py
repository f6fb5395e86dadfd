import torch

from mtl_nlp.bench.pooling import masked_span_max
from mtl_nlp.pooling import span_max, window_maxima


def _spans(length: int, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.randint(0, length + 1, (3, count), generator=generator)
    b = torch.randint(0, length + 1, (3, count), generator=generator)
    return torch.minimum(a, b), torch.maximum(a, b)  # includes empty spans (a == b) and the whole sequence


def test_window_maxima_hold_the_max_of_each_power_of_two_window():
    hidden = torch.tensor([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]]).unsqueeze(-1)
    table = window_maxima(hidden)[..., 0]
    assert table.shape == (3, 1, 7)
    assert table[1, 0].tolist() == [3.0, 4.0, 4.0, 5.0, 9.0, 9.0, 2.0]
    assert table[2, 0, :4].tolist() == [4.0, 5.0, 9.0, 9.0]


def test_span_max_equals_the_masked_max_for_every_span_length():
    generator = torch.Generator().manual_seed(0)
    for length in (1, 2, 7, 16, 33):
        hidden = torch.randn(3, length, 5, generator=generator)
        start, end = _spans(length, 40, generator)
        assert torch.equal(span_max(hidden, start, end), masked_span_max(hidden, start, end))


def test_span_max_passes_gradients_to_the_maximum_positions():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(3, 20, 4, generator=generator)
    start, end = _spans(20, 25, generator)
    fast, plain = hidden.clone().requires_grad_(), hidden.clone().requires_grad_()
    span_max(fast, start, end).sum().backward()
    masked_span_max(plain, start, end).sum().backward()
    assert torch.allclose(fast.grad, plain.grad)
