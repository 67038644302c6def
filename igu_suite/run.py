"""Run one (scorer, seed): build the model, train, evaluate and fill the run folder."""

from __future__ import annotations

import logging
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .ablation import build_ablation_recorder
from .adapters import SVDAdapters, attach_adapters
from .allocator import RankAllocator
from .config import RESOLVED_KEY, RunConfig, total_optimizer_steps, validate_against_steps
from .models import pick_device
from .runfolder import (
    FAILED,
    FINISHED,
    RUNNING,
    environment_record,
    replace_directory,
    write_csv,
    write_json,
    write_status,
)
from .schedule import BudgetSchedule
from .scoring import build_scorer, resolve_scorer_class
from .tasks import Task, get_task, resolve_data_dir
from .training import TrainResult, train

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class PreparedData:
    task: Task
    data_dir: str | None
    train_examples: list[dict[str, Any]]
    eval_examples: list[dict[str, Any]]
    total_steps: int
    data_files: list[Path]


def prepare_data(config: RunConfig) -> PreparedData:
    """Load the task's data and check the config against it, before any model is built.

    Raises ValueError, FileNotFoundError or UnknownNameError with a message naming the
    offending value, so that a bad run fails in seconds.
    """
    resolve_scorer_class(config.scorer.name)
    task = get_task(config.task)
    data_dir = resolve_data_dir(config.data_dir)
    train_examples = task.load_examples(task.train_split, data_dir)
    eval_split = config.eval.split or task.default_eval_split
    eval_examples = task.load_examples(eval_split, data_dir)
    if config.train.train_subset is not None and config.train.train_subset < len(train_examples):
        generator = torch.Generator().manual_seed(config.seed)
        chosen = torch.randperm(len(train_examples), generator=generator)[: config.train.train_subset]
        train_examples = [train_examples[i] for i in chosen.tolist()]
    total_steps = total_optimizer_steps(config.train, len(train_examples))
    validate_against_steps(config, total_steps)
    data_files = task.data_files(task.train_split, data_dir) + task.data_files(eval_split, data_dir)
    return PreparedData(task, data_dir, train_examples, eval_examples, total_steps, data_files)


def build_adapted_model(config: RunConfig, task: Task, total_steps: int) -> tuple[torch.nn.Module, Any, SVDAdapters]:
    """Load the model for ``task`` and attach masked SVD adapters (seeded by the caller)."""
    model, tokenizer = task.build_model(config.model)
    head_dropout = getattr(model, "dropout", None)  # BERT-style classifiers: dropout before the head
    if config.train.head_dropout is not None and isinstance(head_dropout, torch.nn.Dropout):
        head_dropout.p = config.train.head_dropout
    schedule_values = {
        "t_init": config.schedule.t_init,
        "t_final": config.schedule.t_final,
        "mask_interval": config.schedule.mask_interval,
    }
    peft_model, adapters = attach_adapters(model, config.adapter, total_steps, task.peft_task_type, schedule_values)
    return peft_model, tokenizer, adapters


def build_schedule(config: RunConfig, adapters: SVDAdapters, total_steps: int) -> BudgetSchedule:
    return BudgetSchedule(
        initial_budget=adapters.initial_budget,
        target_budget=config.adapter.target_rank * len(adapters),
        total_steps=total_steps,
        t_init=config.schedule.t_init,
        t_final=config.schedule.t_final,
        mask_interval=config.schedule.mask_interval,
        convention=config.schedule.convention,
    )


def _write_histories(run_dir: Path, result: TrainResult, allocator: RankAllocator, adapters: SVDAdapters) -> None:
    write_csv(
        run_dir / "train_log.csv",
        ["step", "loss", "task_loss", "learning_rate", "budget", "seconds", "extra_passes", "path_scale"],
        (
            [r.step, f"{r.loss:.6g}", f"{r.task_loss:.6g}", f"{r.learning_rate:.6g}", r.budget,
             f"{r.seconds:.5f}", r.extra_passes, f"{r.path_scale:.4g}"]
            for r in result.steps
        ),
    )
    modules = {m.name: m for m in adapters}
    rank_rows = []
    score_rows = []
    for allocation in allocator.history:
        for name, rank in allocation.ranks.items():
            module = modules[name]
            rank_rows.append([allocation.step, name, module.layer_index, module.module_type, rank])
        if allocation.scores is None:
            continue
        for name, scores in allocation.scores.items():
            kept = allocation.masks[name]
            for triplet, score in enumerate(scores.tolist()):
                score_rows.append([allocation.step, name, triplet, f"{score:.8g}", int(kept[triplet])])
    write_csv(run_dir / "rank_pattern.csv", ["step", "module", "layer", "module_type", "rank"], rank_rows)
    write_csv(run_dir / "triplet_scores.csv", ["step", "module", "triplet", "score", "kept"], score_rows)


def _save_adapter(adapters: SVDAdapters, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".adapter-") as scratch:
        staged = Path(scratch) / "adapter"
        adapters.save(staged)
        replace_directory(staged, target)


@dataclass
class Stage:
    """A model with adapters, ready to train: built and checked before the run folder exists."""

    model: torch.nn.Module
    tokenizer: Any
    adapters: SVDAdapters
    allocator: RankAllocator | None
    scorer: Any


def build_stage(config: RunConfig, data: PreparedData, device: torch.device, fixed_masks=None) -> Stage:
    """Seed, load the model, attach adapters and build the scorer and allocator.

    With ``fixed_masks`` (the second stage of --two-stage) there is no scorer or allocator and
    the masks stay as given. Raises ValueError for target patterns that match nothing or a
    budget that does not fit.
    """
    seed_everything(config.seed)
    model, tokenizer, adapters = build_adapted_model(config, data.task, data.total_steps)
    model.to(device)
    if fixed_masks is not None:
        adapters.set_masks(fixed_masks)
        return Stage(model, tokenizer, adapters, None, None)
    allocator = RankAllocator(adapters, build_schedule(config, adapters, data.total_steps))
    scorer = build_scorer(config.scorer, adapters, seed=config.seed)
    return Stage(model, tokenizer, adapters, allocator, scorer)


def train_stage(config: RunConfig, data: PreparedData, device: torch.device, stage: Stage, label: str,
                before_allocation=None) -> TrainResult:
    features = data.task.encode(stage.tokenizer, data.train_examples, config.train.max_length)
    return train(stage.model, stage.adapters, data.task, features, stage.tokenizer, config, data.total_steps, device,
                 scorer=stage.scorer, allocator=stage.allocator, description=label,
                 before_allocation=before_allocation)


def _summary_metrics(config, data, result: TrainResult, metrics: dict[str, float], model, adapters) -> dict[str, Any]:
    steps = result.steps
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    adapter_total = sum(p.numel() for _, _, p in adapters.named_parameters())
    return {
        "task": config.task,
        "scorer": config.scorer.name,
        "seed": config.seed,
        "eval_split": config.eval.split or data.task.default_eval_split,
        "main_metric": data.task.main_metric,
        "metrics": metrics,
        "total_steps": data.total_steps,
        "final_ranks": adapters.ranks(),
        "final_budget": sum(adapters.ranks().values()),
        "adapter_parameters": adapters.adapter_parameter_count(),
        "head_parameters": trainable - adapter_total,
        "trainable_parameters": adapters.adapter_parameter_count() + trainable - adapter_total,
        "seconds_per_step": sum(r.seconds for r in steps) / len(steps),
        "extra_passes_per_step": sum(r.extra_passes for r in steps) / len(steps),
        "wall_seconds": result.wall_seconds,
        "peak_memory_mb": result.peak_memory_mb,
        "memory_kind": result.memory_kind,
    }


def evaluate(config: RunConfig, data: PreparedData, stage: Stage, device: torch.device, run_dir: Path) -> dict[str, Any]:
    """Evaluate the stage's model; write any evaluation details to evaluation_details.json."""
    metrics = data.task.evaluate(stage.model, stage.tokenizer, data.eval_examples, config.eval, device,
                                 data_dir=data.data_dir, seed=config.seed)
    details = metrics.pop("details", None)
    if details is not None:
        write_json(run_dir / "evaluation_details.json", details)
    return metrics


class RunFailedError(RuntimeError):
    """Raised when a run failed after training started; its folder's status is ``failed``."""

    def __init__(self, run_dir: Path, cause: BaseException) -> None:
        super().__init__(f"run {run_dir} failed: {type(cause).__name__}: {cause}")
        self.run_dir = run_dir
        self.cause = cause


def execute_run(config: RunConfig, run_dir: str | Path, data: PreparedData | None = None) -> dict[str, Any]:
    """Train and evaluate one run into ``run_dir`` and return its metrics record.

    Invalid input (unknown names, missing data, a schedule or target patterns that do not
    fit) raises before the run folder is touched. Once training starts, the folder's status
    is ``running``. Any error then sets it to ``failed`` with the error and raises
    RunFailedError, except KeyboardInterrupt, which is re-raised as it is after the status
    is written. ``finished`` is written only after every other file is in place.
    """
    run_dir = Path(run_dir)
    data = data or prepare_data(config)
    device = pick_device(config.train.device)
    stage = build_stage(config, data, device)
    ablation = build_ablation_recorder(config, data, stage, device, run_dir)

    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {
        "data_dir": data.data_dir,
        "total_steps": data.total_steps,
        "train_examples": len(data.train_examples),
        "eval_examples": len(data.eval_examples),
        "split_note": data.task.describe_split(data.task.train_split, data.data_dir),
    }
    write_json(run_dir / "config.json", {**config.to_dict(), RESOLVED_KEY: resolved})
    write_status(run_dir, RUNNING)
    try:
        write_json(run_dir / "environment.json", environment_record(str(device), data.data_files))
        logger.info("Run %s: %s on %s, seed %d, %d optimizer steps on %s", run_dir.name, config.scorer.name,
                    config.task, config.seed, data.total_steps, device)

        result = train_stage(config, data, device, stage, f"{config.scorer.name} seed {config.seed}", ablation)
        if ablation is not None:
            ablation.exclude_from_timing(result)
        _write_histories(run_dir, result, stage.allocator, stage.adapters)
        metrics = evaluate(config, data, stage, device, run_dir)
        record = _summary_metrics(config, data, result, metrics, stage.model, stage.adapters)
        _save_adapter(stage.adapters, run_dir / "adapter")

        if config.two_stage:
            final_masks = stage.adapters.masks()
            del stage
            second = build_stage(config, data, device, fixed_masks=final_masks)
            result2 = train_stage(config, data, device, second, f"{config.scorer.name} seed {config.seed} stage 2")
            metrics2 = evaluate(config, data, second, device, run_dir)
            record["stage1_metrics"] = record["metrics"]
            record["metrics"] = metrics2
            record["stage2_wall_seconds"] = result2.wall_seconds
            _save_adapter(second.adapters, run_dir / "adapter")

        write_json(run_dir / "metrics.json", record)
        write_status(run_dir, FINISHED)
        logger.info("Run %s finished: %s = %.4f", run_dir.name, data.task.main_metric,
                    record["metrics"][data.task.main_metric])
        return record
    except KeyboardInterrupt:
        write_status(run_dir, FAILED, error="KeyboardInterrupt: interrupted by the user")
        raise
    except Exception as error:
        write_status(run_dir, FAILED, error=f"{type(error).__name__}: {error}")
        raise RunFailedError(run_dir, error) from error
