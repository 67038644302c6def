"""GLUE tasks from the official TSV files, or from the Hugging Face hub when no folder is given.

The local layout is ``<data_dir>/glue/<FOLDER>/{train,dev}.tsv`` with the official GLUE
files. Their quirks, handled here for every task alike:

- unbalanced double quotes (STS-B, QNLI, MRPC): fields are read with ``csv.QUOTE_NONE``;
- a UTF-8 byte-order mark at the start of the MRPC files: files are opened as ``utf-8-sig``;
- no header in CoLA (columns: source, label, original judgement, sentence);
- string labels in RTE, QNLI and MNLI, mapped to the hub's integer ids;
- MNLI's matched dev set is ``dev_matched.tsv`` (``dev.tsv`` is accepted too).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from igu_suite.config import EvalConfig
from igu_suite.models import load_sequence_classifier
from igu_suite.tasks import ForwardFunction, Task

from .metrics import compute_metrics

logger = logging.getLogger(__name__)

_NLI_LABELS = {"entailment": 0, "not_entailment": 1}


@dataclass(frozen=True)
class GlueSpec:
    """File layout and column format of one GLUE task."""

    name: str
    folder: str
    text_columns: tuple[str | int, ...]  # header names, or column indices when there is no header
    label_column: str | int
    num_labels: int  # 1 means regression
    metrics: tuple[str, ...]
    main_metric: str
    hub_text_fields: tuple[str, ...]
    official_rows: dict[str, int]  # split -> rows of the official file
    has_header: bool = True
    label_map: dict[str, int] | None = None
    split_files: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"train": ("train.tsv",), "dev": ("dev.tsv",)}
    )
    hub_splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation"})


GLUE_SPECS: dict[str, GlueSpec] = {
    spec.name: spec
    for spec in [
        GlueSpec("sst2", "SST-2", ("sentence",), "label", 2, ("accuracy",), "accuracy", ("sentence",),
                 {"train": 67349, "dev": 872}),
        GlueSpec("cola", "CoLA", (3,), 1, 2, ("mcc", "accuracy"), "mcc", ("sentence",),
                 {"train": 8551, "dev": 1043}, has_header=False),
        GlueSpec("mrpc", "MRPC", ("#1 String", "#2 String"), "Quality", 2, ("accuracy", "f1"), "accuracy",
                 ("sentence1", "sentence2"), {"train": 3668, "dev": 408}),
        GlueSpec("rte", "RTE", ("sentence1", "sentence2"), "label", 2, ("accuracy",), "accuracy",
                 ("sentence1", "sentence2"), {"train": 2490, "dev": 277}, label_map=_NLI_LABELS),
        GlueSpec("stsb", "STS-B", ("sentence1", "sentence2"), "score", 1, ("pearson", "spearman"), "pearson",
                 ("sentence1", "sentence2"), {"train": 5749, "dev": 1500}),
        GlueSpec("qnli", "QNLI", ("question", "sentence"), "label", 2, ("accuracy",), "accuracy",
                 ("question", "sentence"), {"train": 104743, "dev": 5463}, label_map=_NLI_LABELS),
        GlueSpec("mnli", "MNLI", ("sentence1", "sentence2"), "gold_label", 3, ("accuracy",), "accuracy",
                 ("premise", "hypothesis"), {"train": 392702, "dev": 9815},
                 label_map={"entailment": 0, "neutral": 1, "contradiction": 2},
                 split_files={"train": ("train.tsv",), "dev": ("dev_matched.tsv", "dev.tsv")},
                 hub_splits={"train": "train", "dev": "validation_matched"}),
        GlueSpec("qqp", "QQP", ("question1", "question2"), "is_duplicate", 2, ("accuracy", "f1"), "accuracy",
                 ("question1", "question2"), {"train": 363846, "dev": 40430}),
    ]
}


def glue_file(spec: GlueSpec, split: str, data_dir: str) -> Path:
    """Return the TSV path of ``split``; raise FileNotFoundError naming the expected path."""
    if split not in spec.split_files:
        raise ValueError(f"GLUE task {spec.name} has no split {split!r}; use one of {sorted(spec.split_files)}.")
    folder = Path(data_dir) / "glue" / spec.folder
    candidates = [folder / name for name in spec.split_files[split]]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"GLUE {spec.name} {split} file not found: expected {candidates[0]}. Point --data-dir "
        "(or IGU_DATA_DIR) at a folder laid out as glue/<TASK>/{train,dev}.tsv with the official GLUE files."
    )


def read_glue_tsv(spec: GlueSpec, path: Path) -> list[dict[str, Any]]:
    """Read an official GLUE TSV into examples {text_a, text_b, label}."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if spec.has_header:
        header, rows = rows[0], rows[1:]
        try:
            text_indices = [header.index(column) for column in spec.text_columns]
            label_index = header.index(spec.label_column)
        except ValueError:
            raise ValueError(
                f"{path} lacks a column that GLUE {spec.name} needs ({spec.text_columns}, {spec.label_column!r}); "
                f"its header is {header}. Is it the official GLUE file?"
            ) from None
        width = len(header)
    else:
        text_indices = list(spec.text_columns)
        label_index = spec.label_column
        width = max(text_indices + [label_index]) + 1

    examples = []
    skipped = 0
    for line_number, row in enumerate(rows, start=2 if spec.has_header else 1):
        if len(row) < width:
            skipped += 1
            continue
        texts = [row[i].strip() for i in text_indices]
        examples.append(
            {
                "text_a": texts[0],
                "text_b": texts[1] if len(texts) > 1 else None,
                "label": _parse_label(spec, row[label_index], path, line_number),
            }
        )
    if skipped:
        logger.warning("Skipped %d malformed row(s) with too few columns in %s", skipped, path)
    return examples


def _parse_label(spec: GlueSpec, raw: str, path: Path, line_number: int) -> int | float:
    value = raw.strip()
    try:
        if spec.num_labels == 1:
            return float(value)
        if spec.label_map is not None:
            return spec.label_map[value]
        return int(value)
    except (KeyError, ValueError):
        raise ValueError(f"Invalid {spec.name} label {raw!r} at {path}:{line_number}.") from None


def load_glue_from_hub(spec: GlueSpec, split: str) -> list[dict[str, Any]]:
    """Load a GLUE split from the Hugging Face hub (``nyu-mll/glue``) through ``datasets``."""
    from datasets import load_dataset

    try:
        dataset = load_dataset("nyu-mll/glue", spec.name, split=spec.hub_splits[split])
    except Exception as error:  # datasets raises many types for network and cache failures
        raise RuntimeError(
            f"Could not load GLUE {spec.name} ({split}) from the Hugging Face hub: {error}. Without "
            "network access, pass --data-dir (or set IGU_DATA_DIR) to a folder with the official "
            "GLUE TSVs laid out as glue/<TASK>/{train,dev}.tsv."
        ) from error
    fields = spec.hub_text_fields
    return [
        {
            "text_a": row[fields[0]],
            "text_b": row[fields[1]] if len(fields) > 1 else None,
            "label": float(row["label"]) if spec.num_labels == 1 else int(row["label"]),
        }
        for row in dataset
    ]


class GlueTask(Task):
    """A GLUE sentence or sentence-pair task with its official metrics."""

    peft_task_type = "SEQ_CLS"

    def __init__(self, spec: GlueSpec) -> None:
        self.spec = spec
        self.name = spec.name  # type: ignore[misc]
        self.main_metric = spec.main_metric  # type: ignore[misc]

    @property
    def is_regression(self) -> bool:
        return self.spec.num_labels == 1

    def load_examples(self, split: str, data_dir: str | None) -> list[dict[str, Any]]:
        if data_dir is None:
            return load_glue_from_hub(self.spec, split)
        return read_glue_tsv(self.spec, glue_file(self.spec, split, data_dir))

    def data_files(self, split: str, data_dir: str | None) -> list[Path]:
        return [] if data_dir is None else [glue_file(self.spec, split, data_dir)]

    def build_model(self, model_name: str) -> tuple[nn.Module, Any]:
        return load_sequence_classifier(model_name, self.spec.num_labels)

    def encode(self, tokenizer: Any, examples: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
        texts_a = [example["text_a"] for example in examples]
        texts_b = [example["text_b"] for example in examples] if self.spec.text_columns[1:] else None
        encoded = tokenizer(texts_a, texts_b, truncation=True, max_length=max_length)
        features = []
        for index, example in enumerate(examples):
            feature = {key: values[index] for key, values in encoded.items()}
            feature["labels"] = example["label"]
            features.append(feature)
        return features

    def collate(self, tokenizer: Any, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labels = [feature["labels"] for feature in features]
        inputs = [{k: v for k, v in feature.items() if k != "labels"} for feature in features]
        batch = dict(tokenizer.pad(inputs, return_tensors="pt"))
        batch["labels"] = torch.tensor(labels, dtype=torch.float32 if self.is_regression else torch.long)
        return batch

    def compute_loss(self, forward: ForwardFunction, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = forward(**inputs).logits.float()  # (batch, num_labels)
        if self.is_regression:
            return F.mse_loss(logits.squeeze(-1), batch["labels"])
        return F.cross_entropy(logits, batch["labels"])

    @torch.no_grad()
    def predict(self, model: nn.Module, tokenizer: Any, features: list[dict[str, Any]], batch_size: int,
                device: torch.device) -> np.ndarray:
        """Return predicted labels (or scores, for regression) of ``features``."""
        outputs = []
        for start in range(0, len(features), batch_size):
            batch = self.collate(tokenizer, features[start : start + batch_size])
            inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            with _autocast(device):
                logits = model(**inputs).logits.float()
            values = logits.squeeze(-1) if self.is_regression else logits.argmax(dim=-1)
            outputs.append(values.cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros(0)

    def evaluate(self, model: nn.Module, tokenizer: Any, examples: list[dict[str, Any]], config: EvalConfig,
                 device: torch.device, data_dir: str | None = None, seed: int = 0) -> dict[str, float]:
        if config.subset is not None:
            examples = examples[: config.subset]
        features = self.encode(tokenizer, examples, config.max_length)
        was_training = model.training
        model.eval()
        try:
            predictions = self.predict(model, tokenizer, features, config.batch_size, device)
        finally:
            model.train(was_training)
        labels = np.array([example["label"] for example in examples])
        metrics = compute_metrics(list(self.spec.metrics), predictions, labels)
        metrics["n_examples"] = len(examples)
        return metrics


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def register_glue_tasks(registry) -> None:
    """Register the eight GLUE tasks (entry point of the ``igu_suite.tasks`` group)."""
    for name, spec in GLUE_SPECS.items():
        registry.register(name, GlueTask(spec))
