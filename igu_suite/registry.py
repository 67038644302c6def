"""Name registries for scorers, tasks and report builders.

The core never imports a particular scorer, task or report builder. Built-in ones and
plug-ins alike are declared as entry points (``igu_suite.scorers``, ``igu_suite.tasks``,
``igu_suite.reports``) and loaded on first use; code may also register objects directly with
:meth:`Registry.register`. A registry rejects a second, different object under a taken name.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that no registry entry carries; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class Registry(Generic[T]):
    """Objects registered by name, filled from an entry-point group on first use.

    Each entry point of the group names an object to register under the entry point's name.
    When ``loader_group`` is True, it instead names a function that takes the registry and
    registers any number of objects itself, as task families such as GLUE do.
    """

    def __init__(self, kind: str, group: str, loader_group: bool = False) -> None:
        self.kind = kind
        self.group = group
        self.loader_group = loader_group
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, obj: T) -> T:
        existing = self._entries.get(name)
        if existing is not None and existing is not obj:
            raise ValueError(
                f"A {self.kind} named {name!r} is already registered ({existing!r}); pick another name."
            )
        self._entries[name] = obj
        return obj

    def decorator(self, name: str) -> Callable[[T], T]:
        """Return a class decorator that registers the class under ``name``."""

        def wrap(obj: T) -> T:
            return self.register(name, obj)

        return wrap

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for point in entry_points(group=self.group):
            try:
                obj = point.load()
            except Exception as error:  # a broken plug-in must not hide the others
                logger.warning("Could not load %s plug-in %r (%s): %s", self.kind, point.name, point.value, error)
                continue
            if self.loader_group:
                obj(self)
            else:
                self.register(point.name, obj)

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, list(self._entries), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(sorted(self._entries))}."
        )

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load_entry_points()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries


def import_dotted(path: str, kind: str) -> Any:
    """Import ``package.module:Name`` and return the object, with a clear error if it fails."""
    if ":" not in path:
        raise ValueError(f"Invalid {kind} path {path!r}: expected 'package.module:Name'.")
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"Cannot import module {module_name!r} for {kind} {path!r}: {error}. Check that the "
            "package is installed in this environment and on PYTHONPATH."
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"Module {module_name!r} has no attribute {attribute!r} (from {kind} {path!r}).") from None


scorer_registry: Registry[Any] = Registry("scorer", "igu_suite.scorers")
task_registry: Registry[Any] = Registry("task", "igu_suite.tasks", loader_group=True)
report_registry: Registry[Any] = Registry("report builder", "igu_suite.reports")
