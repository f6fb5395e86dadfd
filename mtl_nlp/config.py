"""Typed run and task configs loaded from YAML, with every problem reported at once and located by file and line.

Only the standard library and ``yaml`` are imported here, so ``mtl-nlp validate`` stays cheap. Checks that need the
registries (task types, readers, metrics) live in :mod:`mtl_nlp.validation`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mtl_nlp.errors import ConfigError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
SPLITS = ("train", "dev", "test")


@dataclass
class Problem:
    """One thing wrong with a config, and where."""

    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where} {self.key}: {self.message}"


@dataclass
class TaskConfig:
    """One dataset and how to read, train and score it. Data only: loading happens in :mod:`mtl_nlp.data`."""

    name: str
    type: str
    labels: list[str]
    metric: str
    # One reader for every split, or one per split ({train: tsv, dev: sst}) when the splits come in other formats.
    format: str | dict[str, str] = "jsonl"
    files: dict[str, str] = field(default_factory=dict)
    hub: str | None = None
    hub_config: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    tag_scheme: Literal["iob2", "bio", "iob1", "bioes"] = "iob2"
    negative_label: str | None = None
    entity_types: list[str] = field(default_factory=list)
    pooling: Literal["mean", "cls"] = "mean"
    decoding: Literal["argmax", "viterbi"] = "argmax"  # tagging: viterbi never emits an invalid IOB2 sequence
    # Tagging (NER and the joint task's entities): the tagger also reads each word's casing (mtl_nlp.casing), which an
    # uncased encoder cannot see; none: off.
    case_features: bool | None = None
    # What a relation reads (none: the type's default). Relation classification: markers (default), sentence, spans.
    # Joint extraction: spans and context (default), width, sentence.
    relation_features: list[str] | None = None
    # Relation classification: the markers around the two spans, new special tokens ("tokens", the default) or
    # punctuation the encoder already knows ("punct": @ head @ and # tail #).
    entity_markers: Literal["tokens", "punct"] | None = None
    # Relation classification: training also reads every pair the other way round, head and tail swapped and the
    # label's direction reversed (SemEval's "(e1,e2)" <-> "(e2,e1)"; a label without one, such as Other, is taken as
    # undirected and kept): twice the training pairs, dev and test as they are. None: off.
    swapped_pairs: bool | None = None
    # Joint extraction: a pair takes its most likely relation type only when that type's probability reaches this
    # (SpERT's relation threshold); none: the most likely label, the negative one included.
    relation_threshold: float | None = None
    # Joint extraction: entities found by classifying every span of up to this many words as a type or none (a span
    # classifier, as SpERT and PURE find entities: it judges a span's boundaries as a whole) instead of tagging words;
    # none: tagging.
    entity_spans: int | None = None
    # With entity_spans: the loss weight of candidate spans that are no entity, which outnumber the entities 66
    # to 1 in CoNLL04; below 1 the classifier finds more entities (recall) and learns them sooner. None: 1.
    entity_negative_weight: float | None = None
    label_smoothing: float = 0.0  # the loss moves this much of each gold label's probability onto the other labels
    head_dropout: float = 0.1  # dropout on the encoder states the task's head reads
    max_length: int = 128
    # Tagging and joint extraction: sub-words shared by consecutive windows of a sentence longer than max_length
    # (none: a quarter of max_length). Relation classification instead keeps a window around the marked pair.
    stride: int | None = None
    # Where each key was written, for error messages: {"labels": ("task_configs/x.yaml", 7)}.
    source: dict[str, tuple[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def where(self, key: str) -> tuple[str, int | None]:
        return self.source.get(key, self.source.get("", ("<task>", None)))

    def format_of(self, split: str) -> str:
        """The reader name for ``split``'s file."""
        return self.format if isinstance(self.format, str) else self.format.get(split, "")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []

        def bad(key: str, message: str) -> None:
            path, line = self.where(key)
            out.append(Problem(path, line, key, message))

        if not self.labels or not all(isinstance(x, str) for x in self.labels):
            bad("labels", f"must be a non-empty list of strings, got {self.labels!r}")
        elif len(set(self.labels)) != len(self.labels):
            dupes = sorted({x for x in self.labels if self.labels.count(x) > 1})
            bad("labels", f"duplicate labels {dupes}; list each label once")
        if not self.files and not self.hub:
            bad("files", "give local files ({train: ..., dev: ...}) or a Hub dataset name in 'hub'")
        for split in self.files:
            if split not in SPLITS:
                bad(f"files.{split}", f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        if self.files and "train" not in self.files:
            bad("files", "needs a 'train' file")
        if self.tag_scheme not in ("iob2", "bio", "iob1", "bioes"):
            bad("tag_scheme", f"unknown scheme {self.tag_scheme!r}; allowed: iob2, bio, iob1, bioes")
        if self.decoding not in ("argmax", "viterbi"):
            bad("decoding", f"unknown decoding {self.decoding!r}; allowed: argmax, viterbi")
        if self.case_features is not None and not isinstance(self.case_features, bool):
            bad("case_features", f"must be true or false, got {self.case_features!r}")
        if self.swapped_pairs is not None and not isinstance(self.swapped_pairs, bool):
            bad("swapped_pairs", f"must be true or false, got {self.swapped_pairs!r}")
        if self.entity_markers not in (None, "tokens", "punct"):
            bad("entity_markers", f"unknown markers {self.entity_markers!r}; allowed: tokens, punct")
        if self.pooling not in ("mean", "cls"):
            bad("pooling", f"unknown pooling {self.pooling!r}; allowed: mean, cls")
        if not isinstance(self.max_length, int) or not 8 <= self.max_length <= 8192:
            bad("max_length", f"must be an integer between 8 and 8192, got {self.max_length!r}")
        if self.stride is not None and (not isinstance(self.stride, int) or isinstance(self.max_length, int)
                                        and not 0 <= self.stride <= self.max_length // 2):
            bad("stride", f"must be an integer from 0 to half of max_length ({self.max_length}), got {self.stride!r}")
        for key in ("label_smoothing", "head_dropout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                bad(key, f"must be a number in [0, 1), got {value!r}")
        if self.relation_threshold is not None and (isinstance(self.relation_threshold, bool) or not isinstance(
                self.relation_threshold, (int, float)) or not 0 < self.relation_threshold < 1):
            bad("relation_threshold", f"must be a probability between 0 and 1, got {self.relation_threshold!r}")
        if self.entity_spans is not None and (not isinstance(self.entity_spans, int) or isinstance(self.entity_spans, bool)
                                              or not 1 <= self.entity_spans <= 64):
            bad("entity_spans", f"must be a number of words from 1 to 64 (e.g. 10), got {self.entity_spans!r}")
        if self.entity_negative_weight is not None and (isinstance(self.entity_negative_weight, bool) or not isinstance(
                self.entity_negative_weight, (int, float)) or not 0 < self.entity_negative_weight <= 1):
            bad("entity_negative_weight", f"must be a number in (0, 1], e.g. 0.1, got {self.entity_negative_weight!r}")
        if self.negative_label is not None and self.labels and self.negative_label not in self.labels:
            bad("negative_label", f"{self.negative_label!r} is not one of the labels {self.labels}")
        return out


SHARING_TYPES = ("hard", "lora", "soft", "hierarchical", "attention")


@dataclass
class SharingConfig:
    """How tasks share the encoder (``mtl_nlp.sharing``). One section for every strategy; each reads its own keys.

    ``r``, ``lora_alpha``, ``lora_dropout`` and ``target_modules`` are PEFT's names: the low-rank task parameters of
    ``lora``, of ``soft`` with ``copy: lora`` and of ``attention``. ``layers`` picks the encoder layers that get task
    parameters (``soft``, ``attention``; none = all). ``penalty_weight`` is the article's lambda: the weight of the
    parameter-distance term (``soft``) or of the gate term sum(a_k^2) (``attention``).
    """

    type: Literal["hard", "lora", "soft", "hierarchical", "attention"] = "hard"
    r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"])
    train_encoder: bool = False  # lora: also fine-tune the shared base encoder (false freezes it)
    shared_adapter: bool = False  # lora: one more adapter, active under every task's own
    copy: Literal["full", "lora"] = "lora"  # soft: a full copy of each chosen layer per task, or a low-rank delta
    layers: list[int] | None = None
    penalty_weight: float = 0.0
    task_layers: dict[str, int] = field(default_factory=dict)  # hierarchical: task -> encoder layer it reads (1-based)
    layer_mix: bool = False  # attention, lora: each task reads a learned softmax mix of all layers' outputs
    # lora: a task's own adapter settings, for a task that wants a narrower or wider adapter than the others', e.g.
    # {sst2_glue: {r: 8, lora_alpha: 16, target_modules: [query, value], layer_mix: true}} (keys: ADAPTER_KEYS)
    task_adapters: dict[str, dict] = field(default_factory=dict)

    def adapter(self, task: str) -> SharingConfig:
        """The settings of ``task``'s adapter: the section's own, changed by its entry in ``task_adapters``."""
        return dataclasses.replace(self, **self.task_adapters.get(task, {}), task_adapters={})

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.type not in SHARING_TYPES:
            out.append(("type", f"unknown sharing {self.type!r}{_hint(self.type, SHARING_TYPES)}"))
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            out.append(("r", f"must be an integer >= 1, got {self.r!r}"))
        if not isinstance(self.lora_alpha, (int, float)) or self.lora_alpha <= 0:
            out.append(("lora_alpha", f"must be a number > 0, got {self.lora_alpha!r}"))
        if not isinstance(self.lora_dropout, (int, float)) or not 0 <= self.lora_dropout < 1:
            out.append(("lora_dropout", f"must be in [0, 1), got {self.lora_dropout!r}"))
        if not isinstance(self.target_modules, list) or not self.target_modules or not all(isinstance(m, str) for m in self.target_modules):
            out.append(("target_modules", f"must be a non-empty list of module names such as [query, value], got {self.target_modules!r}"))
        if self.copy not in ("full", "lora"):
            out.append(("copy", f"must be 'full' or 'lora', got {self.copy!r}"))
        if self.layers is not None and (not isinstance(self.layers, list) or not all(_positive_int(x) for x in self.layers)):
            out.append(("layers", f"must be a list of 1-based layer numbers, got {self.layers!r}"))
        if not isinstance(self.penalty_weight, (int, float)) or self.penalty_weight < 0:
            out.append(("penalty_weight", f"must be a number >= 0, got {self.penalty_weight!r}"))
        if not isinstance(self.task_layers, dict) or not all(_positive_int(x) for x in self.task_layers.values()):
            out.append(("task_layers", f"must map task names to 1-based layer numbers, got {self.task_layers!r}"))
        if not isinstance(self.layer_mix, bool):
            out.append(("layer_mix", f"must be true or false, got {self.layer_mix!r}"))
        elif self.layer_mix and self.type not in ("attention", "lora"):
            out.append(("layer_mix", f"a mix of the layers' outputs is for sharing.type attention or lora, not {self.type!r}"))
        if self.type == "hierarchical" and not self.task_layers:
            out.append(("task_layers", "hierarchical sharing needs the layer each task reads, e.g. {conll2003: 3}"))
        return out + self._task_adapter_problems()

    def _task_adapter_problems(self) -> list[tuple[str, str]]:
        if not isinstance(self.task_adapters, dict):
            return [("task_adapters", f"must map task names to adapter settings such as {{sst2_glue: {{r: 8}}}}, got {self.task_adapters!r}")]
        out = []
        for task, changes in self.task_adapters.items():
            key = f"task_adapters.{task}"
            if self.type != "lora":
                out.append((key, f"per-task adapters are for sharing.type: lora, not {self.type!r}; remove task_adapters"))
            elif not isinstance(changes, dict) or not changes:
                out.append((key, f"must map some of {', '.join(ADAPTER_KEYS)} to values, got {changes!r}"))
            else:
                out += [(f"{key}.{k}", f"unknown key{_hint(k, ADAPTER_KEYS)}") for k in changes if k not in ADAPTER_KEYS]
                known = {k: v for k, v in changes.items() if k in ADAPTER_KEYS}
                changed = dataclasses.replace(self, **known, task_adapters={})
                out += [(f"{key}.{name}", why) for name, why in changed.problems() if name in known]
        return out


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# What a task may change in its own LoRA adapter (sharing.task_adapters).
ADAPTER_KEYS = ("r", "lora_alpha", "lora_dropout", "target_modules", "layer_mix")

SAMPLING_TYPES = ("proportional", "temperature", "uniform", "round_robin", "fixed", "annealed", "schedule", "every_task")


@dataclass
class SamplingConfig:
    """Which task the next batch comes from. T=1 is size-proportional; a large T tends to uniform.

    ``annealed``: p_i ∝ n_i^a with a moving linearly from 1 (proportional) to ``anneal_to`` (0: uniform) over training
    (Stickland & Murray 2019). ``schedule``: the ``milestones`` weights, {step: {task: weight}}, each in force from its
    step on. ``every_task``: one batch of every task per optimiser step (needed by ``gradient: pcgrad``). ``sizes``
    samples a task as if it had that many training examples.
    """

    type: Literal["proportional", "temperature", "uniform", "round_robin", "fixed", "annealed", "schedule", "every_task"] = "temperature"
    temperature: float = 2.0
    weights: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    anneal_to: float = 0.0
    milestones: dict[int, dict[str, float]] = field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.type not in SAMPLING_TYPES:
            out.append(("type", f"unknown sampling {self.type!r}{_hint(self.type, SAMPLING_TYPES)}"))
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            out.append(("temperature", f"must be a number > 0, got {self.temperature!r}"))
        if self.type == "fixed" and not self.weights:
            out.append(("weights", "type 'fixed' needs weights: {task_name: weight, ...}"))
        for name, w in self.weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                out.append((f"weights.{name}", f"must be a number >= 0, got {w!r}"))
        for name, n in self.sizes.items():
            if not _positive_int(n):
                out.append((f"sizes.{name}", f"must be a whole number of examples >= 1, got {n!r}"))
        if not isinstance(self.anneal_to, (int, float)) or not 0 <= self.anneal_to <= 1:
            out.append(("anneal_to", f"must be an exponent in [0, 1] (0 ends uniform, 1 stays proportional), got {self.anneal_to!r}"))
        if self.type == "schedule" and (not self.milestones or 0 not in self.milestones):
            out.append(("milestones", "type 'schedule' needs weights from step 0 on: {0: {task: weight, ...}, 1000: {...}}"))
        for step, weights in self.milestones.items():
            if not isinstance(step, int) or step < 0 or not isinstance(weights, dict) or not weights:
                out.append((f"milestones.{step}", f"must map a step >= 0 to {{task: weight}}, got {weights!r}"))
            elif any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                out.append((f"milestones.{step}", f"weights must be numbers >= 0, not all zero, got {weights!r}"))
        return out


WEIGHTING_TYPES = ("static", "uncertainty", "dwa")


@dataclass
class WeightingConfig:
    """How each task's loss is weighted (``mtl_nlp.weighting``): fixed ``weights`` (default 1 each), learned
    uncertainty (Kendall et al. 2018), or dynamic weight average over ``period`` steps (Liu et al. 2019)."""

    type: Literal["static", "uncertainty", "dwa"] = "static"
    weights: dict[str, float] = field(default_factory=dict)
    temperature: float = 2.0  # dwa
    period: int = 50  # dwa: steps per loss average (one task per batch: each task's mean loss over the period)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.type not in WEIGHTING_TYPES:
            out.append(("type", f"unknown weighting {self.type!r}{_hint(self.type, WEIGHTING_TYPES)}"))
        for name, w in self.weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                out.append((f"weights.{name}", f"must be a number >= 0, got {w!r}"))
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            out.append(("temperature", f"must be a number > 0, got {self.temperature!r}"))
        if not _positive_int(self.period):
            out.append(("period", f"must be a whole number of steps >= 1, got {self.period!r}"))
        return out


@dataclass
class MetaConfig:
    """Reptile (Nichol et al. 2018) for ``mtl-nlp meta-train``: each of ``train.max_steps`` outer steps trains a
    copy of the encoder on one sampled task for ``inner_steps`` batches, then moves the shared initialisation a
    fraction ``step_size`` (annealed linearly to 0) of the way towards the adapted weights."""

    inner_steps: int = 4
    step_size: float = 0.5

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not _positive_int(self.inner_steps):
            out.append(("inner_steps", f"must be a whole number of batches >= 1, got {self.inner_steps!r}"))
        if not isinstance(self.step_size, (int, float)) or not 0 < self.step_size <= 1:
            out.append(("step_size", f"must be in (0, 1], got {self.step_size!r}"))
        return out


GRADIENT_TYPES = ("sum", "pcgrad")


@dataclass
class GradientConfig:
    """How the tasks' gradients on shared parameters combine (``mtl_nlp.gradients``), and how often to measure
    their pairwise cosine similarity (``cosine_every`` steps; 0 never)."""

    type: Literal["sum", "pcgrad"] = "sum"
    cosine_every: int = 0

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.type not in GRADIENT_TYPES:
            out.append(("type", f"unknown gradient combination {self.type!r}{_hint(self.type, GRADIENT_TYPES)}"))
        if not isinstance(self.cosine_every, int) or isinstance(self.cosine_every, bool) or self.cosine_every < 0:
            out.append(("cosine_every", f"must be a whole number of steps >= 0, got {self.cosine_every!r}"))
        return out


@dataclass
class TrainConfig:
    """Optimisation settings; names follow transformers' TrainingArguments so users recognise them."""

    learning_rate: float = 5e-5
    head_learning_rate: float | None = None
    adapter_learning_rate: float | None = None  # the sharing strategy's task parameters; defaults to learning_rate
    batch_size: int = 16
    eval_batch_size: int = 64
    max_steps: int = 1000
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    eval_every: int = 500
    log_every: int = 20
    seed: int = 13
    max_train_examples: int | None = None  # train on a seeded random subset of this many examples per task
    group_by_length: bool = False  # batches of similar length within each task (less padding)
    length_window: int = 50  # group_by_length: batches whose examples are sorted together (fewer: more varied batches, more padding)
    pack_sequences: bool | None = None  # encode batches without their padding; null: where the encoder allows it
    optimizer: Literal["adamw_fused", "adamw"] = "adamw_fused"  # fused AdamW (one kernel per step, also on CPU), as Trainer's default
    compile: bool = False  # torch.compile the shared encoder in place (dynamic shapes; the first steps compile)
    # Dropout's random masks: PyTorch's own ("torch"), or "fast": drawn 64 bits at a time (mtl_nlp.dropout),
    # cheaper on a CPU, where drawing them is a tenth of a step; for SDPA's attention dropout too.
    dropout_masks: Literal["torch", "fast"] = "torch"
    dataloader_workers: int = 0  # worker processes per task's training loader (0: batches built in the main process)
    checkpoint_every: int = 0  # steps between checkpoints in output_dir/checkpoints (0: only when stopped early)
    keep_checkpoints: int = 2
    # Evaluate and keep an exponential moving average of the weights, moved 1 - decay towards them each step after
    # warm-up (e.g. 0.998: about the last 500 steps); null: the weights as trained.
    ema_decay: float | None = None
    # Layer-wise learning-rate decay: the encoder's top layer at learning_rate, each layer below at this times the one
    # above, the embeddings lowest (e.g. 0.9); null: one rate for the whole encoder.
    layer_lr_decay: float | None = None
    # A task's own decay in the steps that train it, e.g. {sst2_glue: null}: sentiment moves the lower layers at the
    # full rate while the others keep layer_lr_decay. Needs one task per optimiser step.
    task_layer_lr_decay: dict[str, float | None] = field(default_factory=dict)
    # The share of max_steps over which the shared encoder trains: its learning rate warms up and decays to zero by
    # then, while the task parts (heads, adapters) keep their schedule to max_steps. Below 1 the last steps fit each
    # task's own parts to an encoder the other tasks no longer move (e.g. 0.87: the last 13% of the steps).
    encoder_until: float = 1.0

    def encoder_steps(self) -> int:
        """The step at which the shared encoder's learning rate reaches zero."""
        return max(1, round(self.encoder_until * self.max_steps))

    def decay_for(self, task: str) -> float | None:
        """The layer-wise decay of ``task``'s steps: its own where ``task_layer_lr_decay`` names it, else the run's."""
        return self.task_layer_lr_decay[task] if task in self.task_layer_lr_decay else self.layer_lr_decay

    def __post_init__(self) -> None:
        if self.mixed_precision is False:  # YAML 1.1 reads a bare `no` as false
            self.mixed_precision = "no"

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for key in ("batch_size", "eval_batch_size", "max_steps", "gradient_accumulation_steps", "eval_every"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                out.append((key, f"must be an integer >= 1, got {value!r}"))
        for key in ("learning_rate", "head_learning_rate", "adapter_learning_rate"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                out.append((key, f"must be a number > 0, got {value!r}"))
        if not isinstance(self.warmup_ratio, (int, float)) or not 0 <= self.warmup_ratio < 1:
            out.append(("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio!r}"))
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            out.append(("mixed_precision", f"allowed: no, fp16, bf16; got {self.mixed_precision!r}"))
        if not isinstance(self.checkpoint_every, int) or isinstance(self.checkpoint_every, bool) or self.checkpoint_every < 0:
            out.append(("checkpoint_every", f"must be a whole number of steps >= 0 (0: only when stopped), got {self.checkpoint_every!r}"))
        if not _positive_int(self.keep_checkpoints):
            out.append(("keep_checkpoints", f"must be a whole number >= 1, got {self.keep_checkpoints!r}"))
        if self.optimizer not in ("adamw_fused", "adamw"):
            out.append(("optimizer", f"allowed: adamw_fused, adamw; got {self.optimizer!r}"))
        if self.dropout_masks not in ("torch", "fast"):
            out.append(("dropout_masks", f"allowed: torch, fast; got {self.dropout_masks!r}"))
        if self.ema_decay is not None and (isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float))
                                           or not 0 < self.ema_decay < 1):
            out.append(("ema_decay", f"must be a number between 0 and 1 such as 0.998 (or null for none), got {self.ema_decay!r}"))
        if self.layer_lr_decay is not None and (isinstance(self.layer_lr_decay, bool) or not isinstance(self.layer_lr_decay, (int, float))
                                                or not 0 < self.layer_lr_decay <= 1):
            out.append(("layer_lr_decay", f"must be a number in (0, 1] such as 0.9 (or null for none), got {self.layer_lr_decay!r}"))
        if not isinstance(self.task_layer_lr_decay, dict):
            out.append(("task_layer_lr_decay", f"must map task names to a decay, e.g. {{sst2: null}}, got {self.task_layer_lr_decay!r}"))
        else:
            for name, value in self.task_layer_lr_decay.items():
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1):
                    out.append((f"task_layer_lr_decay.{name}", f"must be a number in (0, 1] such as 0.9 (or null for none), got {value!r}"))
        if isinstance(self.encoder_until, bool) or not isinstance(self.encoder_until, (int, float)) or not 0 < self.encoder_until <= 1:
            out.append(("encoder_until", f"must be a share of max_steps in (0, 1] such as 0.87 (1: to the end), got {self.encoder_until!r}"))
        elif self.encoder_until < 1 and isinstance(self.max_steps, int) and isinstance(self.warmup_ratio, (int, float)) \
                and self.encoder_steps() <= int(self.warmup_ratio * self.max_steps):
            out.append(("encoder_until", f"the encoder would stop at step {self.encoder_steps()}, within the "
                                         f"{int(self.warmup_ratio * self.max_steps)} warm-up steps; raise it or lower warmup_ratio"))
        if not _positive_int(self.length_window):
            out.append(("length_window", f"must be a whole number of batches >= 1, got {self.length_window!r}"))
        for key in ("compile", "group_by_length", "pack_sequences"):
            if not isinstance(getattr(self, key), bool) and not (key == "pack_sequences" and self.pack_sequences is None):
                out.append((key, f"must be true or false, got {getattr(self, key)!r}"))
        if not isinstance(self.dataloader_workers, int) or isinstance(self.dataloader_workers, bool) or self.dataloader_workers < 0:
            out.append(("dataloader_workers", f"must be a whole number >= 0, got {self.dataloader_workers!r}"))
        if self.max_train_examples is not None and not _positive_int(self.max_train_examples):
            out.append(("max_train_examples", f"must be a whole number >= 1 (or null for all), got {self.max_train_examples!r}"))
        return out


@dataclass
class RunConfig:
    """One training run: which tasks, which encoder, and how to share, sample and train."""

    tasks: list[TaskConfig]
    encoder: str = DEFAULT_ENCODER
    data_dir: str = "."
    data_dirs: dict[str, str] = field(default_factory=dict)  # per-task data_dir, e.g. {conll2003: ../shared/data}
    output_dir: str = "outputs/run"
    sharing: SharingConfig = field(default_factory=SharingConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    gradient: GradientConfig = field(default_factory=GradientConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    resume_from: str | None = None  # "latest" (output_dir/checkpoints) or a checkpoint folder
    trust_remote_code: bool = False  # run code shipped with a Hub encoder (only for encoders you trust)
    # The encoder's attention kernel, Transformers' attn_implementation: sdpa, eager, flash_attention_2 (a GPU and the
    # flash-attn package), ...; none: Transformers' choice (sdpa where the model supports it).
    attention: str | None = None
    path: str = "<run>"

    def task(self, name: str) -> TaskConfig:
        return next(t for t in self.tasks if t.name == name)

    def data_dir_for(self, name: str) -> str:
        return self.data_dirs.get(name, self.data_dir)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; learning rates are written that way, so read it as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_value(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _hint(value: object, choices) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(map(str, choices))}"


def key_lines(text: str) -> dict[str, int]:
    """Map every dotted key of a YAML mapping to its 1-based line, so errors can point at it."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key + ".")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse a YAML mapping and the line of each key; a syntax error becomes a located ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file. Check the path; task names are looked up as <name>.yaml.", path=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        data = parse_value(text)
        lines = key_lines(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"{path}:{line}: not valid YAML ({getattr(err, 'problem', err)})", path=str(path), line=line) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of keys to values, got {type(data).__name__}", path=str(path), line=1)
    return data, lines


def _unknown_keys(data: dict, cls: type, path: str, lines: dict[str, int], prefix: str = "") -> list[Problem]:
    known = [f.name for f in dataclasses.fields(cls) if f.name not in ("source", "path")]
    return [
        Problem(path, lines.get(prefix + key), prefix + key, f"unknown key{_hint(key, known)}")
        for key in data
        if key not in known
    ]


def _build(cls: type, data: dict, path: str, lines: dict[str, int], prefix: str, problems: list[Problem]):
    """Make a dataclass from a mapping, recording unknown keys and missing required ones instead of raising."""
    if not isinstance(data, dict):
        problems.append(Problem(path, lines.get(prefix.rstrip(".")), prefix.rstrip("."), f"expected a mapping, got {data!r}"))
        return cls()
    problems += _unknown_keys(data, cls, path, lines, prefix)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for key in required:
        if key not in kwargs:
            problems.append(Problem(path, 1, prefix + key, "required key is missing"))
            kwargs[key] = [] if key in ("labels", "tasks") else ""
    return cls(**kwargs)


def load_task(path: Path, problems: list[Problem], overrides: dict[str, dict[str, Any]] | None = None) -> TaskConfig:
    """Read one task YAML, with the command line's ``{task name: {field: value}}`` on top, appending its problems to
    ``problems``."""
    data, lines = read_yaml(path)
    data.update((overrides or {}).get(str(data.get("name") or path.stem), {}))
    task = _build(TaskConfig, data, str(path), lines, "", problems)
    task.source = {key: (str(path), line) for key, line in lines.items()} | {"": (str(path), 1)}
    task.name = task.name or path.stem
    problems += task.problems()
    return task


def find_task_file(name: str, run_path: Path) -> Path:
    """A task is a path to a YAML or a name looked up in the run folder's parent (``task_configs/`` for a run in
    ``task_configs/runs/``), then beside the run file; a run is never taken for a task of the same name."""
    if name.endswith((".yaml", ".yml")):
        candidate = Path(name)
        return candidate if candidate.is_absolute() or candidate.exists() else run_path.parent / name
    for folder in (run_path.parent.parent, run_path.parent):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file() and candidate.resolve() != run_path.resolve():
            return candidate
    return run_path.parent.parent / f"{name}.yaml"


def apply_overrides(data: dict, lines: dict[str, int], overrides: list[str]) -> list[Problem]:
    """Apply dotted ``key=value`` overrides in place; values are parsed as YAML so ``1e-4`` and ``true`` keep types."""
    problems: list[Problem] = []
    nested = {"sharing": SharingConfig, "sampling": SamplingConfig, "weighting": WeightingConfig, "gradient": GradientConfig,
              "meta": MetaConfig, "train": TrainConfig}
    top = [f.name for f in dataclasses.fields(RunConfig) if f.name != "path"]
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            problems.append(Problem("command line", None, item, "overrides look like key=value, e.g. train.max_steps=200"))
            continue
        head, _, rest = key.partition(".")
        if head == "task":
            task_name, _, field_name = rest.partition(".")
            if not task_name or not field_name:
                problems.append(Problem("command line", None, key, "task overrides look like task.<name>.<field>=value, e.g. task.sst2.pooling=cls"))
            else:
                data.setdefault("task", {}).setdefault(task_name, {})[field_name] = parse_value(raw) if raw else ""
            continue
        if head == "data_dirs" and rest:
            data.setdefault("data_dirs", {})[rest] = str(parse_value(raw))
            continue
        choices = top if not rest else [f"{head}.{f.name}" for f in dataclasses.fields(nested.get(head, RunConfig))]
        if head not in top or (rest and head not in nested) or (rest and key not in choices) or (not rest and head in nested):
            all_keys = top + [f"{n}.{f.name}" for n, c in nested.items() for f in dataclasses.fields(c)]
            problems.append(Problem("command line", None, key, f"unknown key{_hint(key, all_keys)}"))
            continue
        value = parse_value(raw) if raw else ""
        if rest:
            section = data.setdefault(head, {})
            if isinstance(section, dict):
                section[rest] = value
        else:
            data[head] = value
        lines[key] = 0
    return problems


def load_run(path: str | Path, overrides: list[str] = ()) -> tuple[RunConfig, list[Problem]]:
    """Read a run YAML and its task YAMLs. Returns the config and every structural problem; raises only on I/O."""
    path = Path(path)
    data, lines = read_yaml(path)
    problems = apply_overrides(data, lines, list(overrides))
    spath = str(path)
    sections = {
        "sharing": _build(SharingConfig, data.get("sharing") or {}, spath, lines, "sharing.", problems),
        "sampling": _build(SamplingConfig, data.get("sampling") or {}, spath, lines, "sampling.", problems),
        "weighting": _build(WeightingConfig, data.get("weighting") or {}, spath, lines, "weighting.", problems),
        "gradient": _build(GradientConfig, data.get("gradient") or {}, spath, lines, "gradient.", problems),
        "meta": _build(MetaConfig, data.get("meta") or {}, spath, lines, "meta.", problems),
        "train": _build(TrainConfig, data.get("train") or {}, spath, lines, "train.", problems),
    }
    for name, section in sections.items():
        problems += [Problem(spath, lines.get(f"{name}.{k}"), f"{name}.{k}", m) for k, m in section.problems()]
    task_overrides = data.pop("task", None) or {}
    problems += _unknown_keys({k: v for k, v in data.items() if k not in sections}, RunConfig, spath, lines)
    tasks = _load_tasks(data.get("tasks"), path, lines, problems, task_overrides)
    scalars = {k: str(data[k]) for k in ("encoder", "data_dir", "output_dir", "resume_from", "attention") if data.get(k) is not None}
    data_dirs = data.get("data_dirs") or {}
    if not isinstance(data_dirs, dict):
        problems.append(Problem(spath, lines.get("data_dirs"), "data_dirs", f"must map task names to folders, got {data_dirs!r}"))
        data_dirs = {}
    trust = data.get("trust_remote_code", False)
    if not isinstance(trust, bool):
        problems.append(Problem(spath, lines.get("trust_remote_code"), "trust_remote_code", f"must be true or false, got {trust!r}"))
        trust = False
    run = RunConfig(tasks=tasks, path=spath, data_dirs={k: str(v) for k, v in data_dirs.items()}, trust_remote_code=trust,
                    **scalars, **sections)
    problems += _cross_problems(run, lines)
    return run, problems


def _load_tasks(names: Any, path: Path, lines: dict[str, int], problems: list[Problem],
                overrides: dict[str, dict[str, Any]]) -> list[TaskConfig]:
    if not isinstance(names, list) or not names:
        problems.append(Problem(str(path), lines.get("tasks"), "tasks", f"must be a non-empty list of task names, got {names!r}"))
        return []
    tasks = []
    for name in names:
        task_path = find_task_file(str(name), path)
        if not task_path.is_file():
            known = sorted(p.stem for p in task_path.parent.glob("*.yaml"))
            hint = _hint(Path(str(name)).stem, known)
            problems.append(Problem(str(path), lines.get("tasks"), "tasks", f"no task file {task_path}{hint}"))
            continue
        tasks.append(load_task(task_path, problems, overrides))
    loaded = [t.name for t in tasks]
    for name in overrides:
        if name not in loaded:
            problems.append(Problem("command line", None, f"task.{name}", f"not a task of this run{_hint(name, loaded)}"))
    return tasks


def _cross_problems(run: RunConfig, lines: dict[str, int]) -> list[Problem]:
    """Checks that need the whole run: unique task names, sampling weights naming real tasks."""
    out = []
    names = [t.name for t in run.tasks]
    for name in sorted({n for n in names if names.count(n) > 1}):
        out.append(Problem(run.path, lines.get("tasks"), "tasks", f"task name {name!r} appears twice; names must be unique"))
    for name in run.data_dirs:
        if name not in names:
            out.append(Problem(run.path, lines.get(f"data_dirs.{name}"), f"data_dirs.{name}", f"not a task of this run{_hint(name, names)}"))
    named = [("sampling.weights", run.sampling.weights), ("sampling.sizes", run.sampling.sizes), ("weighting.weights", run.weighting.weights)]
    named += [(f"sampling.milestones.{step}", weights) for step, weights in run.sampling.milestones.items() if isinstance(weights, dict)]
    named += [(f"sharing.{key}", getattr(run.sharing, key)) for key in ("task_layers", "task_adapters") if isinstance(getattr(run.sharing, key), dict)]
    if isinstance(run.train.task_layer_lr_decay, dict):
        named.append(("train.task_layer_lr_decay", run.train.task_layer_lr_decay))
        if run.train.task_layer_lr_decay and (run.sampling.type == "every_task" or run.train.gradient_accumulation_steps > 1):
            out.append(Problem(run.path, lines.get("train.task_layer_lr_decay"), "train.task_layer_lr_decay",
                               "a task's own decay needs one task per optimiser step: drop it, or use neither "
                               "sampling.type: every_task nor gradient_accumulation_steps > 1"))
    for key, mapping in named:
        for name in mapping:
            if name not in names:
                out.append(Problem(run.path, lines.get(f"{key}.{name}", lines.get(key)), f"{key}.{name}", f"not a task of this run{_hint(name, names)}"))
    if run.gradient.type == "pcgrad" and run.sampling.type != "every_task":
        out.append(Problem(run.path, lines.get("gradient.type"), "gradient.type", "pcgrad projects every task's gradient "
                           "in each optimiser step: set sampling.type: every_task"))
    if run.sampling.type == "fixed":
        for name in names:
            if name not in run.sampling.weights:
                out.append(Problem(run.path, lines.get("sampling.weights"), "sampling.weights", f"missing a weight for task {name!r}"))
    return out


def raise_problems(problems: list[Problem], what: str) -> None:
    """Raise one ConfigError that lists every problem, so a user fixes them all in one go."""
    if problems:
        first = problems[0]
        body = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{what} has {len(problems)} problem(s):\n{body}", path=first.path, line=first.line)


def as_dict(task: TaskConfig) -> dict[str, Any]:
    """The task config as plain data (no source lines), for saving inside the model's config.json."""
    data = dataclasses.asdict(task)
    data.pop("source")
    return data
