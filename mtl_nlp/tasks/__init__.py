"""The task-type registry: a new task type is one module plus one line here."""

from __future__ import annotations

import difflib

from mtl_nlp.config import TaskConfig
from mtl_nlp.errors import ConfigError
from mtl_nlp.tasks.base import Task
from mtl_nlp.tasks.joint_entity_relation import JointEntityRelation
from mtl_nlp.tasks.relation_classification import RelationClassification
from mtl_nlp.tasks.sequence_classification import SequenceClassification
from mtl_nlp.tasks.token_classification import TokenClassification

TASK_TYPES: dict[str, type] = {
    "token_classification": TokenClassification,
    "sequence_classification": SequenceClassification,
    "relation_classification": RelationClassification,
    "joint_entity_relation": JointEntityRelation,
}


def unknown_type_message(name: str) -> str:
    hint = difflib.get_close_matches(name, TASK_TYPES, n=1)
    return f"unknown task type {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "") + (
        f" Known types: {', '.join(sorted(TASK_TYPES))}."
    )


def get_task_type(name: str) -> type:
    if name not in TASK_TYPES:
        raise ConfigError(unknown_type_message(name))
    return TASK_TYPES[name]


def build_task(config: TaskConfig) -> Task:
    return get_task_type(config.type)(config)


__all__ = ["TASK_TYPES", "Task", "build_task", "get_task_type", "unknown_type_message"]
