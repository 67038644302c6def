"""The task contract that ``evals/`` implements, and task lookup by name."""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from .config import EvalConfig
from .registry import task_registry

DATA_DIR_ENV = "IGU_DATA_DIR"

# forward(**model_inputs) -> model outputs; either the model or a functional_call wrapper.
ForwardFunction = Callable[..., Any]


class Task(abc.ABC):
    """A dataset, the way a model reads it, its loss and its metrics."""

    name: ClassVar[str] = ""
    # peft task type: "SEQ_CLS" makes peft train the classifier head in full.
    peft_task_type: ClassVar[str | None] = None
    train_split: ClassVar[str] = "train"
    default_eval_split: ClassVar[str] = "dev"
    main_metric: ClassVar[str] = "accuracy"

    @abc.abstractmethod
    def load_examples(self, split: str, data_dir: str | None) -> list[dict[str, Any]]:
        """Return the examples of ``split``, from ``data_dir`` or, if None, the hub."""

    def data_files(self, split: str, data_dir: str | None) -> list[Path]:
        """Return the local files that ``split`` reads (for hashing into the run record)."""
        return []

    def describe_split(self, split: str, data_dir: str | None) -> str | None:
        """Return a note on which documents ``split`` holds when that is not obvious, else None."""
        return None

    @abc.abstractmethod
    def build_model(self, model_name: str) -> tuple[nn.Module, Any]:
        """Load (model, tokenizer) with the head this task needs."""

    @abc.abstractmethod
    def encode(self, tokenizer: Any, examples: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
        """Tokenize examples into features that :meth:`collate` batches."""

    @abc.abstractmethod
    def collate(self, tokenizer: Any, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad features into a batch of tensors."""

    @abc.abstractmethod
    def compute_loss(self, forward: ForwardFunction, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the scalar task loss of ``batch`` (without any regularizer)."""

    @abc.abstractmethod
    def evaluate(
        self,
        model: nn.Module,
        tokenizer: Any,
        examples: list[dict[str, Any]],
        config: EvalConfig,
        device: torch.device,
        data_dir: str | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Return the task's metrics on ``examples``. Leaves the model in the mode it found.

        Values are numbers, except an optional ``details`` entry (settings, versions, raw
        results) that the run writes to ``evaluation_details.json``.
        """


def get_task(name: str) -> Task:
    factory = task_registry.get(name)
    return factory() if isinstance(factory, type) else factory


def resolve_data_dir(data_dir: str | None) -> str | None:
    """Return the data folder: the option, else $IGU_DATA_DIR, else None (load from the hub)."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if chosen is not None and not os.path.isdir(chosen):
        source = "data_dir" if data_dir else DATA_DIR_ENV
        raise FileNotFoundError(
            f"Data folder {chosen!r} (from {source}) does not exist. Point --data-dir or "
            f"{DATA_DIR_ENV} at a folder laid out as glue/<TASK>/{{train,dev}}.tsv."
        )
    return chosen
