"""Read run folders into pandas tables. Needs no torch and no model.

A path is a run folder if it contains ``config.json``. Otherwise every sub-folder that
contains one is read (an experiment folder). A run that is not finished stays in :attr:`RunTables.runs`
with its status, and out of every other table. When several paths hold a run of the same
task, scorer and seed, the first one read is used and the others are marked ``duplicate``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

FINISHED = "finished"
DUPLICATE = "duplicate"


@dataclass
class RunTables:
    """Every run's records, one DataFrame per kind, keyed by ``run``, ``scorer`` and ``seed``."""

    runs: pd.DataFrame
    rank_patterns: pd.DataFrame
    train_logs: pd.DataFrame
    triplet_scores: pd.DataFrame
    ablations: pd.DataFrame = field(default_factory=pd.DataFrame)
    ablation_checkpoints: pd.DataFrame = field(default_factory=pd.DataFrame)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def finished(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == FINISHED]

    @property
    def unfinished(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != FINISHED]

    @property
    def scorers(self) -> list[str]:
        return sorted(self.runs["scorer"].dropna().unique().tolist())

    @property
    def tasks(self) -> list[str]:
        if "task" not in self.runs:
            return []
        return sorted(self.runs["task"].dropna().astype(str).unique().tolist())


def expected_run_dirs(experiment: Path) -> list[Path]:
    """Return the run folders that the experiment's ``experiment.json`` plans, existing or not.

    The names follow ``igu_suite.compare.run_name``: ``<scorer>-seed<seed>`` with characters
    other than letters, digits and ``_`` replaced by ``_``.
    """
    plan_path = experiment / "experiment.json"
    if not plan_path.is_file():
        return []
    plan = _read_json(plan_path)
    return [
        experiment / f"{re.sub(r'[^A-Za-z0-9_]+', '_', scorer)}-seed{seed}"
        for scorer in plan.get("scorers", [])
        for seed in plan.get("seeds", [])
    ]


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Expand experiment folders into their run folders; keep run folders (even missing ones) as given.

    An experiment folder contributes every sub-folder with a ``config.json`` and every run
    that its ``experiment.json`` plans, so a planned run that never started is reported as
    missing.
    """
    run_dirs: list[Path] = []
    for path in paths:
        path = Path(path)
        if (path / "config.json").is_file() or not path.exists():
            run_dirs.append(path)
            continue
        children = sorted(child for child in path.iterdir() if (child / "config.json").is_file())
        planned = [run_dir for run_dir in expected_run_dirs(path) if run_dir not in children]
        if not children and not planned:
            raise FileNotFoundError(f"{path} is neither a run folder nor a folder of runs (no config.json found).")
        run_dirs.extend(children + planned)
    return list(dict.fromkeys(run_dirs))


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _run_identity(run_dir: Path) -> dict[str, Any]:
    """Return scorer, seed and task from the run's config, or guessed from the folder name."""
    if (run_dir / "config.json").is_file():
        config = _read_json(run_dir / "config.json")
        return {"scorer": config["scorer"]["name"], "seed": config["seed"], "task": config["task"]}
    name, _, seed = run_dir.name.rpartition("-seed")
    return {"scorer": name or run_dir.name, "seed": int(seed) if seed.isdigit() else None, "task": None}


def _read_run(run_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"run": str(run_dir), **_run_identity(run_dir)}
    status_path = run_dir / "status.json"
    if not run_dir.exists():
        row["status"] = "missing"
    elif not status_path.is_file():
        row["status"] = "unknown"
    else:
        status = _read_json(status_path)
        row["status"] = status.get("status", "unknown")
        row["error"] = status.get("error")
    metrics_path = run_dir / "metrics.json"
    if row["status"] == FINISHED and metrics_path.is_file():
        record = _read_json(metrics_path)
        for key, value in record.items():
            if key in ("metrics", "stage1_metrics", "final_ranks"):
                continue
            row[key] = value
        for key, value in record["metrics"].items():
            row[f"metric_{key}"] = value
        row["main_value"] = record["metrics"][record["main_metric"]]
    return row


def _read_csv(run_dir: Path, name: str, identity: dict[str, Any]) -> pd.DataFrame | None:
    path = run_dir / name
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    for key, value in identity.items():
        table[key] = value
    return table


def _mark_duplicates(rows: list[dict[str, Any]]) -> None:
    """Mark later runs of an already seen (task, scorer, seed) as duplicates, so pairs by seed stay unique."""
    seen: dict[tuple, str] = {}
    for row in rows:
        if row["status"] != FINISHED:
            continue
        key = (row.get("task"), row["scorer"], row["seed"])
        if key in seen:
            logger.warning("Run %s repeats %s seed %s of %s; the report uses %s", row["run"], row["scorer"],
                           row["seed"], row.get("task"), seen[key])
            row["status"] = DUPLICATE
            row["error"] = f"same task, scorer and seed as {seen[key]}"
        else:
            seen[key] = row["run"]


def load_runs(paths: list[Path]) -> RunTables:
    """Read every run under ``paths`` into :class:`RunTables`."""
    run_dirs = find_run_dirs(paths)
    rows = [_read_run(run_dir) for run_dir in run_dirs]
    _mark_duplicates(rows)
    runs = pd.DataFrame(rows)
    tables: dict[str, list[pd.DataFrame]] = {
        "rank_pattern.csv": [], "train_log.csv": [], "triplet_scores.csv": [], "ablation.csv": [],
        "ablation/checkpoints.csv": [],
    }
    configs, environments = {}, {}
    for row, run_dir in zip(rows, run_dirs):
        if row["status"] != FINISHED:
            continue
        identity = {"run": row["run"], "task": row["task"], "scorer": row["scorer"], "seed": row["seed"]}
        for name in tables:
            table = _read_csv(run_dir, name, identity)
            if table is not None:
                tables[name].append(table)
        configs[row["run"]] = _read_json(run_dir / "config.json")
        if (run_dir / "environment.json").is_file():
            environments[row["run"]] = _read_json(run_dir / "environment.json")

    def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if "layer" in table:
            # Rows without a block index (baselines, modules outside the blocks) would make it float.
            table["layer"] = table["layer"].astype("Int64")
        return table

    return RunTables(
        runs=runs,
        rank_patterns=concat(tables["rank_pattern.csv"]),
        train_logs=concat(tables["train_log.csv"]),
        triplet_scores=concat(tables["triplet_scores.csv"]),
        ablations=concat(tables["ablation.csv"]),
        ablation_checkpoints=concat(tables["ablation/checkpoints.csv"]),
        configs=configs,
        environments=environments,
    )
