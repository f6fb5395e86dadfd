"""Soft sharing with adapters: one PEFT LoRA adapter per task on the shared encoder, the batch's task activating its
own (and, optionally, one adapter shared by all tasks under it). The base encoder is frozen unless ``train_encoder``.
PEFT is imported where it is used, so serving a model without adapters never loads it.

Adapters are injected into the encoder in place with PEFT's functional API, so the model's weights file holds them,
and ``save_adapters`` also writes each in PEFT's own format (``adapters/<task>/``) for ``PeftModel.from_pretrained``
on the plain encoder (the LoRA weights only: marker tokens a task added live in the model's own embeddings).
One task per batch: PEFT cannot train a batch that mixes adapters, and the task sampler never makes one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.errors import ConfigError

SHARED_ADAPTER = "all_tasks"
PEFT_PREFIX = "base_model.model."  # how PeftModel names the wrapped model's weights in adapter_model.safetensors


class LoraSharing(nn.Module):
    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        from peft import LoraConfig
        from peft.functional import inject_adapter_in_model

        self.adapters = [*tasks, *([SHARED_ADAPTER] if settings.shared_adapter else [])]
        self.active = {t: [SHARED_ADAPTER, t] if settings.shared_adapter else [t] for t in tasks}
        with warnings.catch_warnings():  # PEFT warns when a second adapter joins the first: that is the point here
            warnings.simplefilter("ignore", UserWarning)
            for name in self.adapters:
                own = settings.adapter(name)  # a task's entry in task_adapters; the shared adapter keeps the section's
                config = LoraConfig(
                    r=own.r,
                    lora_alpha=own.lora_alpha,
                    lora_dropout=own.lora_dropout,
                    target_modules=list(own.target_modules),
                    base_model_name_or_path=getattr(encoder, "name_or_path", None) or None,
                )
                try:
                    inject_adapter_in_model(config, encoder, adapter_name=name)
                except ValueError as error:  # PEFT's NoMatchingPeftModuleError: no module has that name
                    key = f"sharing.task_adapters.{name}" if name in settings.task_adapters else "sharing"
                    raise ConfigError(f"{key}.target_modules: {error} The encoder's linear modules are named e.g. query, "
                                      "key, value, dense; a suffix such as output.dense picks some of them.") from None
        self.train_encoder = settings.train_encoder
        self.freeze(encoder)

    def freeze(self, encoder: nn.Module) -> None:
        """The base follows train_encoder, and every adapter is trainable so the optimizer (built once) holds them
        all, whichever task comes first (PEFT's injection froze everything but the adapters)."""
        from peft.functional import set_requires_grad

        for name, param in encoder.named_parameters():
            if ".lora_" not in name:
                param.requires_grad_(self.train_encoder)
        set_requires_grad(encoder, self.adapters, requires_grad=True)

    def encode(self, encoder: nn.Module, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        from peft.functional import set_adapter

        set_adapter(encoder, self.active[task])
        return encoder(**inputs).last_hidden_state

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task sees its own weights, so each needs its own pass."""
        return {task: self.encode(encoder, task, inputs) for task in tasks}

    def penalty(self) -> torch.Tensor | None:
        return None

    def report(self) -> dict[str, float]:
        return {}

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        from peft.functional import get_peft_model_state_dict

        for name in self.adapters:
            out = Path(folder) / "adapters" / name
            out.mkdir(parents=True, exist_ok=True)
            weights = get_peft_model_state_dict(encoder, adapter_name=name, save_embedding_layers=False)
            save_file({PEFT_PREFIX + k: v.detach().contiguous().cpu() for k, v in weights.items()}, out / "adapter_model.safetensors")
            encoder.peft_config[name].save_pretrained(str(out))
