"""From a task config to checked, tokenized splits and their data loaders.

Every row is checked against the task's labels and shape before tokenization, and the error names the file and
line; tokenization runs once through ``datasets.map`` (cached next to the Arrow files of the local builders).
"""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import torch
from accelerate import PartialState
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from mtl_nlp.config import TaskConfig
from mtl_nlp.errors import ConfigError, DataFormatError
from mtl_nlp.packing import packing_collator
from mtl_nlp.readers import LINE_OF, READERS, conll_line
from mtl_nlp.tasks import Task
from mtl_nlp.windows import windowed

# A plain logger: data preparation also runs outside any Accelerator (predict, evaluate, scripts); the main-process
# check below keeps a multi-process run from printing the same count once per process.
logger = logging.getLogger(__name__)
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def columns_for(config: TaskConfig, task: Task) -> dict:
    """The task's role -> column mapping; roles left out keep their own name (conll needs explicit numbers)."""
    roles = [*task.required_roles, *(r for r in task.optional_roles if r in config.columns)]
    return {role: config.columns.get(role, role) for role in roles}


def split_path(config: TaskConfig, split: str, data_dir: str | Path) -> str | None:
    name = config.files.get(split)
    return None if name is None else str(Path(data_dir) / name)


def load_split(config: TaskConfig, task: Task, split: str, data_dir: str | Path) -> datasets.Dataset | None:
    """Read one split (None when the task has no such split) and check every row."""
    path = split_path(config, split, data_dir)
    if path is None:
        return _load_hub(config, task, split) if config.hub else None
    reader = config.format_of(split)
    ds = READERS[reader](path, columns_for(config, task))
    check_rows(ds, config, task, path, reader)
    return ds


def training_split(config: TaskConfig, task: Task, data_dir: str | Path, *, examples: int | None = None,
                   seed: int = 0) -> datasets.Dataset:
    """What a task trains on, for the trainer and for the benchmark that replays its sampler alike: the train split,
    a seeded random ``examples`` of it (``train.max_train_examples``; all without), then the rows the task adds
    (``Task.for_training``), each change said in the log."""
    split = load_split(config, task, "train", data_dir)
    main = PartialState().is_main_process
    if examples is not None and examples < len(split):
        if main:
            logger.info(f"{config.name}: training on {examples} of {len(split)} examples (train.max_train_examples, "
                        f"seed {seed})")
        split = split.shuffle(seed=seed).select(range(examples))
    out = task.for_training(split)
    if len(out) != len(split) and main:
        logger.info(f"{config.name}/train: {len(split)} examples read, {len(out)} trained on "
                    f"({len(out) - len(split):+d} from the task's settings, e.g. swapped_pairs)")
    return out


def _load_hub(config: TaskConfig, task: Task, split: str) -> datasets.Dataset:
    try:
        ds = datasets.load_dataset(config.hub, config.hub_config, split=HUB_SPLITS[split])
    except Exception as err:  # offline, missing split, or a network error: all need the same advice
        raise ConfigError(
            f"task {config.name!r}: could not load Hub dataset {config.hub!r} split {HUB_SPLITS[split]!r} "
            f"({str(err).splitlines()[0]}). Offline, give local files under 'files:' and run with --data-dir."
        ) from None
    ds = ds.select_columns(list(columns_for(config, task).values()))
    ds = ds.rename_columns({c: r for r, c in columns_for(config, task).items() if c != r})
    return _class_labels_as_strings(ds, config.labels)


def _class_labels_as_strings(ds: datasets.Dataset, labels: list[str]) -> datasets.Dataset:
    """Hub datasets store labels as ClassLabel ids; our configs and metrics speak label strings.

    An id becomes its ClassLabel name when the task's labels use those names, else its number as a string (the
    Hub's glue/sst2 names its labels negative/positive where the SST files write 0/1)."""
    for name, feature in ds.features.items():
        inner = getattr(feature, "feature", None)
        label_feature = feature if isinstance(feature, datasets.ClassLabel) else inner
        if not isinstance(label_feature, datasets.ClassLabel):
            continue
        by_name = set(label_feature.names) <= set(labels)
        as_text = (lambda i, f=label_feature: f.int2str(int(i))) if by_name else (lambda i: str(int(i)))
        if label_feature is feature:
            ds = ds.cast_column(name, datasets.Value("string")).map(lambda row, n=name, t=as_text: {n: t(row[n])})
        else:
            ds = ds.map(lambda row, n=name, t=as_text: {n: [t(i) for i in row[n]]})
            ds = ds.cast_column(name, datasets.Sequence(datasets.Value("string")))
    return ds


def check_rows(ds: datasets.Dataset, config: TaskConfig, task: Task, path: str, reader: str) -> None:
    """Raise a DataFormatError at the first row with an unknown label or a malformed field (``reader``: the format)."""
    allowed = set(config.labels)
    line_of = LINE_OF[reader]
    for row, example in enumerate(ds):
        problem = task.check(example)
        if problem:
            raise DataFormatError(f"{problem} (task {config.name!r})", path=path, line=line_of(path, row))
        if task.label_role is None:  # labels nested in structured fields: task.check() verified them
            continue
        values = example[task.label_role]
        for position, value in enumerate(values if isinstance(values, list) else [values]):
            if str(value) not in allowed:
                line = conll_line(path, row, position) if reader == "conll" else line_of(path, row)
                raise DataFormatError(
                    f"label {str(value)!r} is not in the labels of task {config.name!r} "
                    f"({_where(config, 'labels')}): {config.labels}. Add it to 'labels' or fix the data.",
                    path=path,
                    line=line,
                )


def _where(config: TaskConfig, key: str) -> str:
    path, line = config.where(key)
    return f"{path}:{line}" if line else path


def tokenize(ds: datasets.Dataset, task: Task, tokenizer: PreTrainedTokenizerBase, what: str) -> datasets.Dataset:
    """Tokenize with ``datasets.map`` and log, once per split, the examples read in several windows and what the
    task counted as cut off or out of reach (its ``counted`` columns, then dropped)."""
    out = ds.map(
        task.preprocess, batched=True, fn_kwargs={"tokenizer": tokenizer}, remove_columns=ds.column_names, desc=what
    )
    counted = task.counted()
    if PartialState().is_main_process:
        split, windows = windowed(out)
        if split:
            logger.info(f"{what}: {split} example(s) longer than max_length={task.config.max_length} are read in "
                        f"{windows} overlapping windows")
        for column, message in counted.items():
            if total := sum(out[column]):
                logger.warning(f"{what}: " + message.format(n=total))
    return out.remove_columns(list(counted))


def make_loader(
    ds: datasets.Dataset, task: Task, tokenizer: PreTrainedTokenizerBase, *, batch_size: int, shuffle: bool, seed: int,
    group_by_length: bool = False, length_window: int = 50, workers: int = 0, pack: bool = False,
) -> DataLoader:
    """One loader per task and split: homogeneous batches, so each task keeps its own collator; padding per batch.
    ``group_by_length`` (with ``shuffle``) batches examples of similar length, sorted within ``length_window`` batches
    of a seeded shuffle: less padding, the same examples per epoch.
    ``workers`` processes collate batches ahead (the order is still drawn in this process, from ``seed``).
    ``pack`` adds each batch's packed encoder inputs (``mtl_nlp.packing``): the same batches, encoded without padding."""
    generator = torch.Generator().manual_seed(seed)
    parallel = {"num_workers": workers, "persistent_workers": True} if workers else {}
    collate = packing_collator(task.collator(tokenizer)) if pack else task.collator(tokenizer)
    if shuffle and group_by_length:
        lengths = [len(ids) for ids in ds["input_ids"]]
        sampler = LengthGroupedBatches(lengths, batch_size, generator, length_window)
        return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, generator=generator, **parallel)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator, **parallel)


class LengthGroupedBatches:
    """Batches of similar length in random order: a seeded shuffle, then sorting by length within windows of
    ``window`` batches, then the batches shuffled. Every draw comes from ``generator`` (the loader's), so the order
    is reproducible and a resumed run restores it with the generator's state."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator, window: int = 50) -> None:
        self.lengths, self.batch_size, self.generator, self.window = lengths, batch_size, generator, window

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        span = self.batch_size * self.window
        grouped = []
        for start in range(0, len(order), span):
            grouped += sorted(order[start : start + span], key=lambda i: -self.lengths[i])
        batches = [grouped[i : i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[k]
