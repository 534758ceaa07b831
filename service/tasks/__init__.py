"""Task kinds: one class per kind of model, looked up by the manifest's ``task``.

A package adds its own kinds through the ``tinyserve.tasks`` entry point group (name: the task
kind, value: ``module:Class``, a ``Task`` subclass). Only installed packages can register one:
a manifest names a kind, never code, so nothing in the model store can make the server import.
"""

import logging
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from service.tasks.base import Task
from service.tasks.image_classification import ImageClassification
from service.tasks.regression import Regression
from service.tasks.sequence_labelling import SequenceLabelling
from service.tasks.tabular_classification import TabularClassification
from service.tasks.text_classification import TextClassification

logger = logging.getLogger("tinyserve.tasks")

ENTRY_POINT_GROUP = "tinyserve.tasks"
BUILT_IN: tuple[type[Task[Any, Any]], ...] = (
    ImageClassification,
    TextClassification,
    Regression,
    TabularClassification,
    SequenceLabelling,
)


@cache
def task_classes() -> dict[str, type[Task[Any, Any]]]:
    """Every task kind this server can serve: the built-in ones and the installed plugins'."""
    classes: dict[str, type[Task[Any, Any]]] = {cls.kind: cls for cls in BUILT_IN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, Task)) or cls.kind != entry.name:
            raise TypeError(f"entry point {entry.name} = {entry.value} must be a Task subclass of kind {entry.name!r}")
        if entry.name in classes and classes[entry.name] is not cls:
            raise TypeError(f"task kind {entry.name!r} is registered twice ({entry.value})")
        classes[entry.name] = cls
        logger.info("task kind %s from %s", entry.name, entry.value)
    return classes


def task_class(kind: str) -> type[Task[Any, Any]]:
    classes = task_classes()
    if kind not in classes:
        known = ", ".join(sorted(classes))
        raise ValueError(f"task {kind!r} is not a kind this server serves ({known}); install the plugin that adds it")
    return classes[kind]


__all__ = ["ENTRY_POINT_GROUP", "Task", "task_class", "task_classes"]
