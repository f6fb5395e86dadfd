import pytest
import torch
import torch.nn.functional as F

from mtl_nlp.dropout import FastMasks, attention, dropout, dropout_masks, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_masks_keep_each_element_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    kept = keep_mask((400, 1000), p, "cpu").float().mean().item()
    assert abs(kept - (1 - p)) < 0.003  # 400,000 draws: the standard error is under 0.001
    torch.manual_seed(0)
    assert torch.equal(keep_mask((400, 1000), p, "cpu").float().mean(), torch.tensor(kept))
    assert keep_mask((3, 5), 0.0, "cpu").all()


def test_dropout_zeroes_the_dropped_scales_the_kept_and_passes_gradients_through_the_mask():
    x = torch.randn(64, 32, requires_grad=True)
    y = dropout(x, 0.25)
    kept = y != 0
    assert 0.6 < kept.float().mean() < 0.9
    assert torch.allclose(y[kept], x[kept] / 0.75)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)
    assert dropout(x, 0.25, training=False) is x and dropout(x, 1.0).eq(0).all()


def test_the_mode_swaps_the_masks_of_dropout_modules_and_only_while_active():
    x, layer = torch.randn(32, 64), torch.nn.Dropout(0.1)
    torch.manual_seed(1)
    with FastMasks():
        inside = layer(x)
    torch.manual_seed(1)
    assert torch.equal(inside, dropout(x, 0.1))
    torch.manual_seed(1)
    assert not torch.equal(layer(x), inside)  # PyTorch's own masks outside the mode
    assert torch.equal(layer.eval()(x), x)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_is_sdpa_and_its_dropout_uses_the_fast_masks(kind):
    q, k, v = (torch.randn(2, 3, 7, 8) for _ in range(3))
    keep = torch.ones(2, 1, 7, 7, dtype=torch.bool)
    keep[0, ..., 5:] = False
    mask = keep if kind == "bool" else torch.zeros(keep.shape).masked_fill(~keep, torch.finfo(torch.float).min)
    assert torch.allclose(attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-6)
    torch.manual_seed(2)
    with FastMasks():
        dropped = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.2)
        plain = F.scaled_dot_product_attention(q, k, v, mask)
    torch.manual_seed(2)
    assert torch.equal(dropped, attention(q, k, v, mask, 0.2))
    assert not torch.allclose(dropped, plain) and torch.allclose(plain, attention(q, k, v, mask), atol=1e-6)


def test_the_run_setting_picks_the_masks():
    x = torch.randn(32, 64)
    drawn = {}
    for kind in ("torch", "fast"):
        torch.manual_seed(3)
        with dropout_masks(kind):
            drawn[kind] = F.dropout(x, 0.1)
    torch.manual_seed(3)
    assert torch.equal(drawn["torch"], F.dropout(x, 0.1))
    torch.manual_seed(3)
    assert torch.equal(drawn["fast"], dropout(x, 0.1))
