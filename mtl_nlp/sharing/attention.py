"""Attention-gated sharing (article 3.2 and 4.4): per task and per chosen layer a learned gate a in (0, 1) mixes the
shared weights with task-specific ones, W_k = a_k W_s + (1 - a_k)(W_s + dW_k) = W_s + (1 - a_k) dW_k, and the loss adds
lambda * sum a_k^2. dW_k is low-rank (B A, as LoRA). With ``layer_mix`` each task also reads a learned softmax mix of all
layers' outputs instead of the last one (ELMo's scalar mix).
"""

from __future__ import annotations

import torch
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.sharing.deltas import LowRankDelta, TaskDeltas, run_with
from mtl_nlp.sharing.layers import chosen_parameters, layer_stack, scalar_mix


class AttentionSharing(nn.Module):
    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        chosen = chosen_parameters(encoder, settings.layers, settings.target_modules)
        stack_name, stack = layer_stack(encoder)
        self.layers = sorted({int(name[len(stack_name) + 1 :].split(".")[0]) for name in chosen})
        self.tasks = list(tasks)
        self.deltas = TaskDeltas({n: p.shape for n, p in chosen.items()}, tasks, lambda s: LowRankDelta(s, settings.r, settings.lora_alpha))
        # Gate logits start at 0: a = 0.5, half shared and half task-specific.
        self.gate_logits = nn.Parameter(torch.zeros(len(tasks), len(self.layers)))
        self.penalty_weight = settings.penalty_weight
        self.layer_mix = settings.layer_mix
        if self.layer_mix:  # one weight per layer output (embeddings included), uniform at first, and a scale
            self.mix_logits = nn.Parameter(torch.zeros(len(tasks), len(stack) + 1))
            self.mix_scale = nn.Parameter(torch.ones(len(tasks)))
        self._layer_of = {name: self.layers.index(int(name[len(stack_name) + 1 :].split(".")[0])) for name in chosen}

    def gates(self) -> torch.Tensor:
        """[tasks, chosen layers]: a_k, the share of the shared weights in each task's weights."""
        return torch.sigmoid(self.gate_logits)

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        k = self.tasks.index(task)
        keep = 1 - self.gates()[k]
        weights = {name: encoder.get_parameter(name) + keep[self._layer_of[name]] * self.deltas.delta(task, name) for name in self.deltas.names}
        out = run_with(encoder, weights, inputs, output_hidden_states=self.layer_mix)
        if not self.layer_mix:
            return out.last_hidden_state
        return scalar_mix(out.hidden_states, self.mix_logits[k], self.mix_scale[k])

    def freeze(self, encoder: nn.Module) -> None:
        return None

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task sees its own weights, so each needs its own pass."""
        return {task: self.encode(encoder, task, inputs) for task in tasks}

    def penalty(self) -> torch.Tensor | None:
        return self.penalty_weight * self.gates().pow(2).sum() if self.penalty_weight else None

    @torch.no_grad()
    def report(self) -> dict[str, float]:
        gates = self.gates()
        out = {f"sharing/gate/{t}/layer{n + 1}": float(gates[k, i]) for k, t in enumerate(self.tasks) for i, n in enumerate(self.layers)}
        if self.layer_mix:
            mix = torch.softmax(self.mix_logits, dim=1)
            out |= {f"sharing/layer_mix/{t}/layer{n}": float(mix[k, n]) for k, t in enumerate(self.tasks) for n in range(mix.shape[1])}
        return out

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        return None
