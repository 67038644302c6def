"""Compare scorers: train every (scorer, seed) into one experiment folder, then report.

The experiment folder contains one run folder per (scorer, seed), named ``<scorer>-seed<seed>``,
plus ``experiment.json``, ``summary.csv`` and the report. Running the same comparison again
skips finished runs (their status is ``finished`` and their config equals the requested
one) and redoes unfinished ones from the start.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RESOLVED_KEY, RunConfig
from .registry import report_registry
from .run import RunFailedError, execute_run, prepare_data
from .runfolder import FINISHED, read_json, read_status, write_csv, write_json
from .scoring import resolve_scorer_class

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "scorer", "seed", "task", "status", "main_metric", "main_value", "trainable_parameters",
    "adapter_parameters", "seconds_per_step", "extra_passes_per_step", "peak_memory_mb", "wall_seconds",
    "run_dir",
]


@dataclass
class ExperimentResult:
    output_dir: Path
    run_dirs: list[Path]
    failed: dict[str, str] = field(default_factory=dict)  # run name -> error
    summary_path: Path | None = None
    report_paths: dict[str, Path] = field(default_factory=dict)


def run_name(scorer: str, seed: int) -> str:
    """Return the run folder name; dotted plug-in paths become file-name safe."""
    return f"{re.sub(r'[^A-Za-z0-9_]+', '_', scorer)}-seed{seed}"


def _config_differences(stored: dict[str, Any], requested: dict[str, Any], prefix: str = "") -> list[str]:
    differences = []
    for key in sorted(set(stored) | set(requested)):
        left, right = stored.get(key), requested.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            differences += _config_differences(left, right, f"{prefix}{key}.")
        elif left != right:
            differences.append(f"{prefix}{key}: {left!r} (stored) vs {right!r} (requested)")
    return differences


def plan_run(config: RunConfig, run_dir: Path) -> str:
    """Return 'skip' for a finished run with the same config, else 'run'.

    Raises ValueError when a finished run with a different config is in the way, so that a
    changed setting never silently reuses old results.
    """
    status = read_status(run_dir)
    if status is None or status.get("status") != FINISHED:
        return "run"
    stored = read_json(run_dir / "config.json")
    stored.pop(RESOLVED_KEY, None)
    differences = _config_differences(stored, config.to_dict())
    if differences:
        raise ValueError(
            f"The finished run {run_dir} was made with a different config ({'; '.join(differences[:5])}). "
            "Write this comparison to another folder with --output, or delete that run folder."
        )
    return "skip"


def summary_row(scorer: str, seed: int, run_dir: Path, config: RunConfig) -> list[Any]:
    status = read_status(run_dir) or {"status": "missing"}
    row = {"scorer": scorer, "seed": seed, "task": config.task, "status": status["status"], "run_dir": str(run_dir)}
    metrics_path = run_dir / "metrics.json"
    if status["status"] == FINISHED and metrics_path.is_file():
        record = read_json(metrics_path)
        row.update({key: record.get(key) for key in SUMMARY_COLUMNS if key in record})
        row["main_metric"] = record["main_metric"]
        row["main_value"] = record["metrics"][record["main_metric"]]
        extra = {f"metric_{k}": v for k, v in record["metrics"].items() if k != "n_examples"}
        row.update(extra)
    return row


def write_summary(path: Path, rows: list[dict[str, Any]]) -> None:
    metric_columns = sorted({key for row in rows for key in row if key.startswith("metric_")})
    header = SUMMARY_COLUMNS + metric_columns
    write_csv(path, header, ([row.get(column, "") for column in header] for row in rows))


def run_compare(
    scorers: list[str],
    seeds: list[int],
    base_config: RunConfig,
    output_dir: str | Path,
    build_report: bool = True,
    reference: str = "adalora",
) -> ExperimentResult:
    """Train and evaluate every (scorer, seed), write summary.csv and the report.

    Checks every scorer name, the task, the data and the schedule before training starts.
    A run that fails is recorded as failed and the others go on; the caller reads
    ``ExperimentResult.failed``.
    """
    if not scorers:
        raise ValueError("No scorers given; pass at least one, e.g. --scorers ig,adalora.")
    if not seeds:
        raise ValueError("No seeds given; pass at least one, e.g. --seeds 0,1.")
    for scorer in scorers:
        resolve_scorer_class(scorer)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)

    plans = []
    for scorer in scorers:
        for seed in seeds:
            config = copy.deepcopy(base_config)
            config.scorer.name = scorer
            config.seed = seed
            run_dir = output / run_name(scorer, seed)
            plans.append((scorer, seed, config, run_dir, plan_run(config, run_dir)))
    pending = [plan for plan in plans if plan[4] == "run"]
    if pending:
        prepare_data(pending[0][2])  # fail in seconds on a bad task, data folder or schedule
    write_json(output / "experiment.json", {
        "scorers": scorers, "seeds": seeds, "task": base_config.task, "preset": base_config.preset,
        "base_config": base_config.to_dict(),
    })

    result = ExperimentResult(output_dir=output, run_dirs=[plan[3] for plan in plans])
    for index, (scorer, seed, config, run_dir, action) in enumerate(plans, start=1):
        label = f"[{index}/{len(plans)}] {scorer} seed {seed}"
        if action == "skip":
            logger.info("%s: finished earlier, skipped (%s)", label, run_dir)
            continue
        if run_dir.exists():
            logger.info("%s: removing the unfinished run in %s and starting over", label, run_dir)
            shutil.rmtree(run_dir)
        logger.info("%s: training", label)
        try:
            execute_run(config, run_dir)
        except RunFailedError as error:  # one failed run must not stop the others
            logger.error("%s failed: %s: %s", label, type(error.cause).__name__, error.cause)
            result.failed[run_dir.name] = f"{type(error.cause).__name__}: {error.cause}"

    rows = [summary_row(scorer, seed, run_dir, config) for scorer, seed, config, run_dir, _ in plans]
    result.summary_path = output / "summary.csv"
    write_summary(result.summary_path, rows)
    if build_report:
        builder = report_registry.get("pdf")
        result.report_paths = builder(result.run_dirs, output, reference=reference)
    return result
