"""Soft sharing with adapters: one PEFT LoRA adapter per task on the shared encoder, the batch's task activating its
own (and, optionally, one adapter shared by all tasks under it). The base encoder is frozen unless ``train_encoder``.
PEFT is imported where it is used, so serving a model without adapters never loads it.

Adapters are injected into the encoder in place with PEFT's functional API, so the model's weights file holds them,
and ``save_adapters`` also writes each in PEFT's own format (``adapters/<task>/``) for ``PeftModel.from_pretrained``
on the plain encoder (the LoRA weights only: marker tokens a task added live in the model's own embeddings).
One task per batch: PEFT cannot train a batch that mixes adapters, and the task sampler never makes one.
A task with ``layer_mix`` (for all tasks, or its own in ``task_adapters``) reads a learned mix of every layer's output
instead of the last one, so it need not read only the top layer the other tasks' training moves most.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from mtl_nlp.config import SharingConfig
from mtl_nlp.errors import ConfigError
from mtl_nlp.sharing.layers import scalar_mix

SHARED_ADAPTER = "all_tasks"
PEFT_PREFIX = "base_model.model."  # how PeftModel names the wrapped model's weights in adapter_model.safetensors


def _inject(encoder: nn.Module, name: str, settings: SharingConfig, key: str) -> None:
    """Adds adapter ``name`` to the encoder; a target module no layer has is a ConfigError naming ``key``."""
    from peft import LoraConfig, NoMatchingPeftModuleError
    from peft.functional import inject_adapter_in_model

    config = LoraConfig(r=settings.r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                        target_modules=list(settings.target_modules),
                        base_model_name_or_path=getattr(encoder, "name_or_path", None) or None)
    try:
        inject_adapter_in_model(config, encoder, adapter_name=name)
    except NoMatchingPeftModuleError as error:
        raise ConfigError(f"{key}.target_modules: {error} This encoder's linear modules end in {', '.join(_linear_names(encoder))}; "
                          "a dotted suffix such as output.dense picks some of them.") from None


def _linear_names(encoder: nn.Module) -> list[str]:
    """The last name of every linear layer, as target_modules names them (adapters already added left out)."""
    paths = (path for path, module in encoder.named_modules() if isinstance(module, nn.Linear) and ".lora_" not in path)
    return sorted({path.removesuffix(".base_layer").rsplit(".", 1)[-1] for path in paths})


class LoraSharing(nn.Module):
    def __init__(self, settings: SharingConfig, encoder: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        self.adapters = [*tasks, *([SHARED_ADAPTER] if settings.shared_adapter else [])]
        self.active = {t: [SHARED_ADAPTER, t] if settings.shared_adapter else [t] for t in tasks}
        with warnings.catch_warnings():  # PEFT warns when a second adapter joins the first: that is the point here
            warnings.simplefilter("ignore", UserWarning)
            for name in self.adapters:  # a task's entry in task_adapters; the shared adapter keeps the section's
                key = f"sharing.task_adapters.{name}" if name in settings.task_adapters else "sharing"
                _inject(encoder, name, settings.adapter(name), key)
        self.train_encoder = settings.train_encoder
        mixed = [t for t in tasks if settings.adapter(t).layer_mix]
        outputs = encoder.config.num_hidden_layers + 1  # hidden_states: the embeddings' output and every layer's
        # One weight per output, uniform at first, and a scale: 1-D, so they get no weight decay
        self.mix_logits = nn.ParameterDict({t: nn.Parameter(torch.zeros(outputs)) for t in mixed})
        self.mix_scale = nn.ParameterDict({t: nn.Parameter(torch.ones(1)) for t in mixed})
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
        if task not in self.mix_logits:
            return encoder(**inputs).last_hidden_state
        out = encoder(**inputs, output_hidden_states=True)
        return scalar_mix(out.hidden_states, self.mix_logits[task], self.mix_scale[task])

    def encode_tasks(self, encoder: nn.Module, tasks: list[str], inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task sees its own weights, so each needs its own pass."""
        return {task: self.encode(encoder, task, inputs) for task in tasks}

    def penalty(self) -> torch.Tensor | None:
        return None

    @torch.no_grad()
    def report(self) -> dict[str, float]:
        return {f"sharing/layer_mix/{t}/layer{n}": float(w)
                for t, logits in self.mix_logits.items() for n, w in enumerate(torch.softmax(logits, dim=0))}

    def save_adapters(self, encoder: nn.Module, folder: str) -> None:
        from peft.functional import get_peft_model_state_dict

        for name in self.adapters:
            out = Path(folder) / "adapters" / name
            out.mkdir(parents=True, exist_ok=True)
            weights = get_peft_model_state_dict(encoder, adapter_name=name, save_embedding_layers=False)
            save_file({PEFT_PREFIX + k: v.detach().contiguous().cpu() for k, v in weights.items()}, out / "adapter_model.safetensors")
            encoder.peft_config[name].save_pretrained(str(out))
