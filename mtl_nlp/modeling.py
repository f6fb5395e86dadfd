"""The multi-task model: any ``AutoModel`` encoder shared by an ``nn.ModuleDict`` of task heads, the sharing
strategy (``mtl_nlp.sharing``) deciding how each task's batch goes through the encoder.

``MultiTaskConfig`` is what ``config.json`` holds (the encoder's config, every task's label list and settings, and
the sharing settings), so a saved folder loads with ``MultiTaskModel.from_pretrained(path)`` alone, without the run YAML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

from mtl_nlp.config import SharingConfig, TaskConfig
from mtl_nlp.encoders import encoder_kwargs
from mtl_nlp.errors import ConfigError
from mtl_nlp.packing import PACKED, unpack
from mtl_nlp.packing import encoder_inputs as packed_encoder_inputs
from mtl_nlp.sharing import build_sharing
from mtl_nlp.tasks import build_task

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class MultiTaskConfig(PreTrainedConfig):
    """The shared encoder's config, one plain-data task spec per head (as written in the task YAML), and the sharing."""

    model_type = "mtl_nlp"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    tasks: list[dict] | None = None
    sharing: dict | None = None

    def task_configs(self) -> list[TaskConfig]:
        return [TaskConfig(**spec) for spec in self.tasks or []]

    def sharing_config(self) -> SharingConfig:
        return SharingConfig(**(self.sharing or {}))


@dataclass
class TaskOutput(ModelOutput):
    """Logits of the requested task head, the encoder states it read, and the sharing strategy's loss term (or None)."""

    logits: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None
    penalty: torch.Tensor | None = None


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
        tasks = self.config.task_configs()
        self.heads = nn.ModuleDict({t.name: build_task(t).head(hidden) for t in tasks})
        self.post_init()
        # After post_init: strategies initialise their own parameters (LoRA's B starts at zero) and must keep that.
        self.sharing = build_sharing(self.config.sharing_config(), self.encoder, [t.name for t in tasks])

    @classmethod
    def from_encoder(cls, encoder: PreTrainedModel, tasks: list[TaskConfig], sharing: SharingConfig | None = None) -> MultiTaskModel:
        """A new model around an already loaded (pretrained) encoder; heads start from random weights."""
        from mtl_nlp.config import as_dict

        sharing = dataclasses.asdict(sharing or SharingConfig())
        config = MultiTaskConfig(encoder=encoder.config.to_dict(), tasks=[as_dict(t) for t in tasks], sharing=sharing)
        return cls(config, encoder=encoder)

    def _init_weights(self, module: nn.Module) -> None:
        """Heads get the encoder's initializer range; the encoder's own modules are initialised by the encoder."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=getattr(self.config.encoder, "initializer_range", 0.02))
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> MultiTaskModel:
        """transformers' loading, with damaged or missing files reported as one ConfigError naming the folder."""
        from safetensors import SafetensorError

        where = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        if Path(str(where)).is_dir() and not (Path(str(where)) / "config.json").is_file():
            raise ConfigError(f"{where}: not a model folder (no config.json); give the output_dir of a training run "
                              "or a Hub id", path=str(where))
        try:
            model = super().from_pretrained(*args, **{"use_safetensors": True, **kwargs})
        except (OSError, SafetensorError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"{where}: the model could not be loaded ({first}). A model folder holds config.json, "
                              "model.safetensors and the tokenizer as training wrote them; a truncated or damaged "
                              "weights file must be copied again (or the model retrained).", path=str(where)) from None
        # Loading puts new, trainable Parameter objects in place: the strategy freezes its fixed part again.
        model.sharing.freeze(model.encoder)
        return model

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def encode(self, task: str, **inputs: torch.Tensor) -> torch.Tensor:
        """The hidden states ``task``'s head reads; under hard sharing every head reads the same, so one pass can
        serve many heads. A batch carrying packed inputs (``mtl_nlp.packing``) is encoded without its padding."""
        if PACKED not in inputs:
            return self.sharing.encode(self.encoder, task, {k: v for k, v in inputs.items() if k in ENCODER_INPUTS})
        hidden = self.sharing.encode(self.encoder, task, self._packed(inputs))
        return unpack(hidden, inputs["packed_index"], inputs["attention_mask"].shape)

    def encode_tasks(self, tasks: list[str], **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """The hidden states of several tasks for the same inputs: one encoder pass under hard and hierarchical
        sharing, one per task where tasks see different encoder weights (lora, soft, attention)."""
        if PACKED not in inputs:
            return self.sharing.encode_tasks(self.encoder, tasks, {k: v for k, v in inputs.items() if k in ENCODER_INPUTS})
        packed = self.sharing.encode_tasks(self.encoder, tasks, self._packed(inputs))
        unpacked = {id(h): unpack(h, inputs["packed_index"], inputs["attention_mask"].shape) for h in packed.values()}
        return {task: unpacked[id(h)] for task, h in packed.items()}

    def _packed(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return packed_encoder_inputs(inputs, self.encoder.config._attn_implementation, self.encoder.dtype)

    def forward(self, task: str, hidden_states: torch.Tensor | None = None, **inputs: torch.Tensor) -> TaskOutput:
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; this model has {sorted(self.heads)}")
        hidden = self.encode(task, **inputs) if hidden_states is None else hidden_states
        # The penalty is computed inside forward so that, under DDP, its gradients flow in the same backward pass.
        return TaskOutput(logits=self.heads[task](hidden, inputs), hidden_states=hidden, penalty=self.sharing.penalty() if self.training else None)

    def push_to_hub(self, repo_id: str, *, private: bool = False, revision: str | None = None,
                    commit_message: str | None = None, token: str | None = None, tokenizer=None) -> str:
        """Save this model (and ``tokenizer``, if given) with a generated model card and upload it in one commit.

        ``mtl-nlp push OUTPUT_DIR`` uploads a training run's folder instead, whose card also holds its dev scores."""
        import tempfile

        from mtl_nlp.hub import push

        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)
            return push(folder, repo_id, private=private, revision=revision, commit_message=commit_message, token=token)

    def sharing_report(self) -> dict[str, float]:
        """The sharing strategy's values worth logging (gates, distances between task copies)."""
        return self.sharing.report()

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs) -> None:
        """The usual folder, plus whatever the sharing strategy writes in a format of its own (PEFT adapters)."""
        super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            self.sharing.save_adapters(self.encoder, str(save_directory))


def load_config(model_dir: str) -> MultiTaskConfig:
    """A saved model's config, or one ConfigError naming the folder."""
    try:
        return MultiTaskConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{model_dir}: not a model folder or its config.json is damaged ({str(err).splitlines()[0]}); "
                          "give the output_dir of a training run or a Hub id", path=str(model_dir)) from None


AutoConfig.register("mtl_nlp", MultiTaskConfig)
AutoModel.register(MultiTaskConfig, MultiTaskModel)
