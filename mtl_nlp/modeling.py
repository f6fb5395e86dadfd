"""The multi-task model: any ``AutoModel`` encoder shared by an ``nn.ModuleDict`` of task heads.

``MultiTaskConfig`` is what ``config.json`` holds (the encoder's config and every task's label list and settings),
so a saved folder loads with ``MultiTaskModel.from_pretrained(path)`` alone, without the run YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

from mtl_nlp.config import TaskConfig
from mtl_nlp.encoders import encoder_kwargs
from mtl_nlp.tasks import build_task

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class MultiTaskConfig(PreTrainedConfig):
    """The shared encoder's config plus one plain-data task spec per head (as written in the task YAML)."""

    model_type = "mtl_nlp"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    tasks: list[dict] | None = None

    def task_configs(self) -> list[TaskConfig]:
        return [TaskConfig(**spec) for spec in self.tasks or []]


@dataclass
class TaskOutput(ModelOutput):
    """Logits of the requested task head, and the encoder states it read (for heads that share one pass)."""

    logits: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None


class MultiTaskModel(PreTrainedModel):
    """Shared encoder, one head per task; ``forward(task=..., **batch)`` runs the encoder once and that task's head."""

    config_class = MultiTaskConfig
    base_model_prefix = "mtl"
    main_input_name = "input_ids"
    _supports_sdpa = True

    def __init__(self, config: MultiTaskConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        # super().__init__ stored a copy: from here on only self.config is the model's config.
        if encoder is None:
            encoder = AutoModel.from_config(self.config.encoder, **encoder_kwargs(self.config.encoder.model_type))
        self.encoder = encoder
        # One config object for both, so a change to model.config.encoder reaches the encoder (as EncoderDecoderModel).
        self.config.encoder._attn_implementation = self.encoder.config._attn_implementation
        self.encoder.config = self.config.encoder
        hidden = self.config.encoder.hidden_size
        self.heads = nn.ModuleDict({t.name: build_task(t).head(hidden) for t in self.config.task_configs()})
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder: PreTrainedModel, tasks: list[TaskConfig]) -> MultiTaskModel:
        """A new model around an already loaded (pretrained) encoder; heads start from random weights."""
        from mtl_nlp.config import as_dict

        config = MultiTaskConfig(encoder=encoder.config.to_dict(), tasks=[as_dict(t) for t in tasks])
        return cls(config, encoder=encoder)

    def _init_weights(self, module: nn.Module) -> None:
        """Heads get the encoder's initializer range; the encoder's own modules are initialised by the encoder."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=getattr(self.config.encoder, "initializer_range", 0.02))
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def encode(self, **inputs: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden states; every head reads these, so one pass can serve many heads."""
        return self.encoder(**{k: v for k, v in inputs.items() if k in ENCODER_INPUTS}).last_hidden_state

    def forward(self, task: str, hidden_states: torch.Tensor | None = None, **inputs: torch.Tensor) -> TaskOutput:
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; this model has {sorted(self.heads)}")
        hidden = self.encode(**inputs) if hidden_states is None else hidden_states
        return TaskOutput(logits=self.heads[task](hidden, inputs), hidden_states=hidden)


AutoConfig.register("mtl_nlp", MultiTaskConfig)
AutoModel.register(MultiTaskConfig, MultiTaskModel)
