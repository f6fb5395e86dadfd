"""Helpers the strategies share: finding an encoder's stack of layers, the parameters of chosen layers, and a learned
mix of the layers' outputs."""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.errors import ConfigError


def layer_stack(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    """The encoder's list of transformer layers and its dotted name (``encoder.layer`` in BERT).

    Found as the ModuleList with ``num_hidden_layers`` entries, so BERT, RoBERTa, DeBERTa and DistilBERT all work.
    """
    depth = encoder.config.num_hidden_layers
    for name, module in encoder.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return name, module
    raise ConfigError(f"sharing: found no list of {depth} layers in the {type(encoder).__name__} encoder; "
                      "this strategy needs a BERT-like encoder (use sharing.type: hard or lora)")


def check_layers(numbers: list[int], depth: int, key: str) -> list[int]:
    """1-based layer numbers, each within the encoder's depth."""
    for number in numbers:
        if not 1 <= number <= depth:
            raise ConfigError(f"{key}: layer {number} does not exist; the encoder has layers 1 to {depth}")
    return sorted(set(numbers))


def chosen_parameters(encoder: nn.Module, layers: list[int] | None, target_modules: list[str] | None) -> dict[str, nn.Parameter]:
    """Parameters of the chosen layers (all layers when ``layers`` is None): every one of them, or, with
    ``target_modules``, the weight matrices of the linear modules so named (PEFT's matching of the last name part)."""
    stack_name, stack = layer_stack(encoder)
    numbers = check_layers(layers or list(range(1, len(stack) + 1)), len(stack), "sharing.layers")
    out: dict[str, nn.Parameter] = {}
    for number in numbers:
        for name, param in stack[number - 1].named_parameters():
            module_name, _, kind = name.rpartition(".")
            if target_modules is None or (kind == "weight" and module_name.rsplit(".", 1)[-1] in target_modules):
                out[f"{stack_name}.{number - 1}.{name}"] = param
    if not out:
        raise ConfigError(f"sharing.target_modules: no linear module named {target_modules} in the chosen layers "
                          f"(BERT names them query, key, value, dense)")
    return out


def key(name: str) -> str:
    """A parameter name as a ModuleDict key (dots are not allowed there)."""
    return name.replace(".", "__")


def scalar_mix(hidden_states: tuple[torch.Tensor, ...], logits: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """ELMo's scalar mix: ``scale`` times the softmax(``logits``)-weighted sum of every layer's output (the
    embeddings' included), so a task can read lower layers that the other tasks' training moves less."""
    mix = torch.softmax(logits, dim=0).to(hidden_states[0].dtype)
    return scale * torch.einsum("l,lbth->bth", mix, torch.stack(hidden_states))
