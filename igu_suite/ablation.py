"""Ablation ground truth: how much the held-out loss rises when one triplet is masked.

At each checkpoint step (``ablation`` config section) the training loop calls
:class:`AblationRecorder` after the scorer has observed the step and before the allocator
applies its new masks, so the model state is the one that the scores recorded for that step
describe. With dropout off and no gradients, the recorder measures

- the baseline loss L on a fixed set of held-out batches;
- for each measured triplet i, L(triplet i masked) - L: every active triplet, or a seeded
  sample of ``max_triplets``;
- for each module, L(all its active triplets masked) - L.

A triplet that is already masked, or whose λ is 0, changes the loss by exactly 0. Masks are
restored after every measurement and the model goes back to the mode it was in.

Held-out rows are training-split rows that the run does not train on when
``train.train_subset`` is set. Without a subset every training row may be drawn into a
training batch, so the held-out rows are drawn from the whole training split and can
overlap with what the run trains on. The rows are chosen with ``ablation.seed`` alone, so
every scorer of the same seed gets the same rows, and with no subset every seed does too.

The run folder gets

- ``ablation.csv``: one row per measurement (kind ``baseline``, ``triplet`` or ``module``);
- ``ablation/checkpoints.csv``: per checkpoint the counts, forward passes and seconds;
- ``ablation/heldout.json``: the held-out rows (indices into the training split file, its
  sha256 and the example texts) and how they were batched;
- ``ablation/step-NNNNNN/adapter/`` and ``masks.json``: the adapter at the checkpoint in
  peft's format with every triplet kept, and the masks in effect. :func:`load_checkpoint`
  rebuilds that state, so any scorer can be scored against the same ground truth
  (:func:`score_checkpoint`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from peft import set_peft_model_state_dict

from .adapters import ADAPTER_NAME, SVDAdapters
from .config import RESOLVED_KEY, RunConfig, ScorerConfig
from .runfolder import read_json, replace_directory, sha256_of, write_csv, write_json
from .tasks import Task
from .training import TrainResult, autocast_context, make_loss_closure

logger = logging.getLogger(__name__)

ABLATION_CSV = "ablation.csv"
ABLATION_DIR = "ablation"
ABLATION_COLUMNS = [
    "step", "kind", "module", "layer", "module_type", "triplet", "active_triplets", "singular_value",
    "loss", "loss_increase", "measured",
]
CHECKPOINT_COLUMNS = [
    "step", "active_triplets", "measured_triplets", "measured_modules", "baseline_loss", "forward_passes",
    "seconds",
]


def checkpoint_directory(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / ABLATION_DIR / f"step-{step:06d}"


def resolve_checkpoints(allocation_steps: list[int], t_init: int, total_steps: int,
                        fractions: list[float], steps: list[int] | None) -> list[int]:
    """Return the sorted checkpoint steps.

    Explicit ``steps`` are used as given and must lie in 1..total_steps. Otherwise each
    fraction f is placed at t_init + f (final allocation - t_init) and moved to the nearest
    allocation step, the earlier one on a tie. Raises ValueError when a step is out of range
    or the schedule has no allocation step.
    """
    if steps:
        outside = [step for step in steps if not 1 <= step <= total_steps]
        if outside:
            raise ValueError(
                f"ablation.steps {outside} lie outside the run's optimizer steps 1..{total_steps}. "
                "Pick steps in that range or use ablation.fractions."
            )
        return sorted(set(steps))
    if not allocation_steps:
        raise ValueError("The budget schedule has no allocation step, so ablation.fractions cannot be placed.")
    final = allocation_steps[-1]
    chosen = set()
    for fraction in fractions:
        target = t_init + fraction * (final - t_init)
        chosen.add(min(allocation_steps, key=lambda step: (abs(step - target), step)))
    return sorted(chosen)


def _example_key(example: dict[str, Any]) -> tuple:
    return example.get("text_a"), example.get("text_b"), example.get("label")


def select_held_out_rows(all_examples: list[dict[str, Any]], training_examples: list[dict[str, Any]],
                         count: int, seed: int) -> list[int]:
    """Return ``count`` indices into ``all_examples``, drawn with ``seed``.

    When ``training_examples`` is a strict subset, rows equal to a training example are
    never drawn. Raises ValueError when fewer than ``count`` candidate rows remain.
    """
    candidates = list(range(len(all_examples)))
    if len(training_examples) < len(all_examples):
        used = {_example_key(example) for example in training_examples}
        candidates = [index for index in candidates if _example_key(all_examples[index]) not in used]
    if len(candidates) < count:
        raise ValueError(
            f"The ablation needs {count} held-out rows but only {len(candidates)} training-split rows are "
            "left outside train.train_subset. Lower ablation.batches or ablation.batch_size."
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(candidates), generator=generator)[:count]
    return [candidates[position] for position in order.tolist()]


@dataclass
class HeldOutSet:
    """The fixed held-out batches of the ablation, and the record that defines them."""

    batches: list[dict[str, torch.Tensor]]
    record: dict[str, Any]

    @property
    def sizes(self) -> list[int]:
        return [int(next(iter(batch.values())).shape[0]) for batch in self.batches]


def batch_examples(task: Task, tokenizer: Any, examples: list[dict[str, Any]], batch_size: int,
                   max_length: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    features = task.encode(tokenizer, examples, max_length)
    batches = []
    for start in range(0, len(features), batch_size):
        batch = task.collate(tokenizer, features[start : start + batch_size])
        batches.append({key: value.to(device) for key, value in batch.items()})
    return batches


def build_held_out_set(config: RunConfig, task: Task, data_dir: str | None, training_examples: list[dict[str, Any]],
                       tokenizer: Any, device: torch.device) -> HeldOutSet:
    """Draw and encode the held-out batches without touching the global random state."""
    ablation = config.ablation
    batch_size = ablation.batch_size or config.train.batch_size
    all_examples = task.load_examples(task.train_split, data_dir)
    rows = select_held_out_rows(all_examples, training_examples, ablation.batches * batch_size, ablation.seed)
    examples = [all_examples[index] for index in rows]
    files = task.data_files(task.train_split, data_dir)
    record = {
        "split": task.train_split,
        "files": {str(path): sha256_of(path) for path in files},
        "rows": rows,
        "disjoint_from_training": len(training_examples) < len(all_examples),
        "seed": ablation.seed,
        "batch_size": batch_size,
        "max_length": config.train.max_length,
        "examples": examples,
    }
    batches = batch_examples(task, tokenizer, examples, batch_size, config.train.max_length, device)
    return HeldOutSet(batches, record)


def held_out_loss(model: torch.nn.Module, task: Task, held_out: HeldOutSet, device: torch.device, bf16: bool) -> float:
    """Return the mean task loss per held-out example (batches weighted by their size)."""
    total = 0.0
    for batch, size in zip(held_out.batches, held_out.sizes):
        with torch.no_grad(), autocast_context(device, bf16):
            total += float(task.compute_loss(model, batch)) * size
    return total / sum(held_out.sizes)


def _seeded_sample(items: list, limit: int | None, seed: int) -> list:
    """Return every item when ``limit`` is None or not exceeded, else a seeded sample in the original order."""
    if limit is None or len(items) <= limit:
        return list(items)
    generator = torch.Generator().manual_seed(seed)
    chosen = sorted(torch.randperm(len(items), generator=generator)[:limit].tolist())
    return [items[index] for index in chosen]


@dataclass
class CheckpointMeasurement:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def measure_ablation(model: torch.nn.Module, adapters: SVDAdapters, task: Task, held_out: HeldOutSet, step: int,
                     device: torch.device, bf16: bool = False, max_triplets: int | None = None,
                     max_modules: int | None = None, seed: int = 0) -> CheckpointMeasurement:
    """Measure the held-out loss increase of masking single triplets and whole modules.

    Masks go straight into the layers' ``triplet_mask`` buffers, which multiply λ in both
    mask modes. ``SVDAdapters.set_masks`` is not used here because in 'peft' mode it zeroes λ
    in place, which could not be undone. The buffers and the model's train/eval mode are
    restored before returning, also when a forward pass raises.
    """
    start = time.perf_counter()
    kept = adapters.masks()
    saved_buffers = {m.name: m.layer.triplet_mask.detach().clone() for m in adapters}
    was_training = model.training
    model.eval()
    passes = 0

    def loss_now() -> float:
        nonlocal passes
        passes += len(held_out.batches)
        return held_out_loss(model, task, held_out, device, bf16)

    rows: list[dict[str, Any]] = []
    try:
        baseline = loss_now()
        rows.append({"step": step, "kind": "baseline", "loss": baseline, "loss_increase": 0.0, "measured": 1})

        active = [(m, i) for m in adapters for i in range(m.rank) if bool(kept[m.name][i])]
        # Seeds differ per checkpoint so that two checkpoints do not sample the same positions.
        for module, triplet in _seeded_sample(active, max_triplets, seed * 1_000_003 + step):
            buffer = module.layer.triplet_mask
            with torch.no_grad():
                buffer[triplet] = 0.0
            try:
                loss = loss_now()
            finally:
                with torch.no_grad():
                    buffer.copy_(saved_buffers[module.name])
            rows.append({
                "step": step, "kind": "triplet", "module": module.name, "layer": module.layer_index,
                "module_type": module.module_type, "triplet": triplet, "active_triplets": 1,
                "singular_value": float(module.parameter("singular_values").detach()[triplet].float()),
                "loss": loss, "loss_increase": loss - baseline, "measured": 1,
            })

        with_active = [m for m in adapters if bool(kept[m.name].any())]
        measured_modules = {m.name for m in _seeded_sample(with_active, max_modules, seed * 1_000_003 + step + 1)}
        for module in adapters:
            active_count = int(kept[module.name].sum())
            row = {"step": step, "kind": "module", "module": module.name, "layer": module.layer_index,
                   "module_type": module.module_type, "active_triplets": active_count}
            if active_count == 0:
                # Nothing left to mask: the increase is exactly 0 without a forward pass.
                rows.append({**row, "loss": baseline, "loss_increase": 0.0, "measured": 0})
                continue
            if module.name not in measured_modules:
                continue
            buffer = module.layer.triplet_mask
            with torch.no_grad():
                buffer.zero_()
            try:
                loss = loss_now()
            finally:
                with torch.no_grad():
                    buffer.copy_(saved_buffers[module.name])
            rows.append({**row, "loss": loss, "loss_increase": loss - baseline, "measured": 1})
    finally:
        with torch.no_grad():
            for module in adapters:
                module.layer.triplet_mask.copy_(saved_buffers[module.name])
        model.train(was_training)

    summary = {
        "step": step,
        "active_triplets": len(active),
        "measured_triplets": sum(1 for row in rows if row["kind"] == "triplet"),
        "measured_modules": sum(1 for row in rows if row["kind"] == "module" and row["measured"]),
        "baseline_loss": baseline,
        "forward_passes": passes,
        "seconds": time.perf_counter() - start,
    }
    return CheckpointMeasurement(rows, summary)


def save_checkpoint(adapters: SVDAdapters, directory: Path) -> None:
    """Save the adapter with every triplet kept (peft format) and the masks, atomically.

    The run's final adapter is saved pruned to its rank pattern. A checkpoint keeps every
    triplet so that masked ones can still be scored, and masks.json records which were active.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    peft_config = adapters.peft_model.peft_config[ADAPTER_NAME]
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=f".{directory.name}-") as scratch:
        staged = Path(scratch) / directory.name
        previous = peft_config.rank_pattern
        peft_config.rank_pattern = None
        try:
            adapters.peft_model.save_pretrained(str(staged / "adapter"))
        finally:
            peft_config.rank_pattern = previous
        masks = {name: kept.tolist() for name, kept in adapters.masks().items()}
        write_json(staged / "masks.json", {"mask_mode": adapters.mask_mode, "masks": masks})
        replace_directory(staged, directory)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.9g}"
    return value


@dataclass
class AblationRecorder:
    """Recorder of the ablation ground truth at the checkpoint steps of one run.

    Call it with every optimizer step after the scorer observed and before the allocator
    runs. It measures only at :attr:`checkpoints`.
    """

    config: RunConfig
    task: Task
    model: torch.nn.Module
    adapters: SVDAdapters
    held_out: HeldOutSet
    device: torch.device
    run_dir: Path
    checkpoints: list[int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    seconds_by_step: dict[int, float] = field(default_factory=dict)

    def __call__(self, step: int) -> None:
        if step in self.checkpoints:
            self.record(step)

    def record(self, step: int) -> None:
        start = time.perf_counter()
        ablation = self.config.ablation
        measurement = measure_ablation(
            self.model, self.adapters, self.task, self.held_out, step, self.device, bf16=self.config.train.bf16,
            max_triplets=ablation.max_triplets, max_modules=ablation.max_modules, seed=ablation.seed,
        )
        self.rows += measurement.rows
        ablation_dir = self.run_dir / ABLATION_DIR
        if not (ablation_dir / "heldout.json").is_file():
            write_json(ablation_dir / "heldout.json", self.held_out.record)
        if ablation.save_checkpoints:
            save_checkpoint(self.adapters, checkpoint_directory(self.run_dir, step))
        write_csv(self.run_dir / ABLATION_CSV, ABLATION_COLUMNS,
                  ([_csv_value(row.get(column)) for column in ABLATION_COLUMNS] for row in self.rows))
        # The seconds include writing the files, because all of it is measuring, not training.
        self.seconds_by_step[step] = time.perf_counter() - start
        self.summaries.append({**measurement.summary, "seconds": self.seconds_by_step[step]})
        write_csv(ablation_dir / "checkpoints.csv", CHECKPOINT_COLUMNS,
                  ([_csv_value(summary[column]) for column in CHECKPOINT_COLUMNS] for summary in self.summaries))
        summary = measurement.summary
        logger.info("Ablation at step %d: %d of %d active triplets and %d modules measured in %.1f s",
                    step, summary["measured_triplets"], summary["active_triplets"], summary["measured_modules"],
                    self.seconds_by_step[step])

    def exclude_from_timing(self, result: TrainResult) -> None:
        """Subtract the measuring time from the steps' seconds and the wall time of ``result``."""
        for record in result.steps:
            record.seconds -= self.seconds_by_step.get(record.step, 0.0)
        result.wall_seconds -= sum(self.seconds_by_step.values())


def build_ablation_recorder(config: RunConfig, data: Any, stage: Any, device: torch.device,
                            run_dir: Path) -> AblationRecorder | None:
    """Return the recorder for a run, or None when ablation is off or the run has no allocator.

    ``data`` is the run's :class:`~igu_suite.run.PreparedData` and ``stage`` its
    :class:`~igu_suite.run.Stage`. Raises ValueError for checkpoint steps outside the run or
    too few held-out rows, before anything is trained or written.
    """
    if not config.ablation.enabled or stage.allocator is None:
        return None
    schedule = stage.allocator.schedule
    allocation_steps = [step for step in range(1, data.total_steps + 1) if schedule.is_allocation_step(step)]
    checkpoints = resolve_checkpoints(allocation_steps, schedule.t_init, data.total_steps,
                                      config.ablation.fractions, config.ablation.steps)
    held_out = build_held_out_set(config, data.task, data.data_dir, data.train_examples, stage.tokenizer, device)
    logger.info("Ablation checkpoints at steps %s on %d held-out batches of %d examples",
                ", ".join(map(str, checkpoints)), len(held_out.batches), held_out.record["batch_size"])
    return AblationRecorder(config, data.task, stage.model, stage.adapters, held_out, device, Path(run_dir),
                            checkpoints)


@dataclass
class Checkpoint:
    """A run's model at an ablation checkpoint, rebuilt from its run folder."""

    config: RunConfig
    task: Task
    model: torch.nn.Module
    tokenizer: Any
    adapters: SVDAdapters
    held_out: HeldOutSet
    step: int


def load_checkpoint(run_dir: str | Path, step: int, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the adapted model, its masks and the held-out batches of one checkpoint.

    Raises FileNotFoundError naming the missing file when the run saved no such checkpoint.
    """
    from .run import build_adapted_model  # run imports this module

    run_dir = Path(run_dir)
    directory = checkpoint_directory(run_dir, step)
    weights = directory / "adapter" / "adapter_model.safetensors"
    for path in (run_dir / "config.json", weights, directory / "masks.json", run_dir / ABLATION_DIR / "heldout.json"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: {run_dir} has no ablation checkpoint at step {step}.")
    stored = read_json(run_dir / "config.json")
    config = RunConfig.from_dict(stored)
    from .tasks import get_task

    task = get_task(config.task)
    device = torch.device(device)
    total_steps = stored[RESOLVED_KEY]["total_steps"]
    model, tokenizer, adapters = build_adapted_model(config, task, total_steps)
    set_peft_model_state_dict(model, load_file(str(weights)))
    model.to(device)
    masks = read_json(directory / "masks.json")["masks"]
    adapters.set_masks({name: torch.tensor(kept, dtype=torch.bool) for name, kept in masks.items()})
    record = read_json(run_dir / ABLATION_DIR / "heldout.json")
    batches = batch_examples(task, tokenizer, record["examples"], record["batch_size"], record["max_length"], device)
    model.eval()
    return Checkpoint(config, task, model, tokenizer, adapters, HeldOutSet(batches, record), step)


def score_checkpoint(checkpoint: Checkpoint, scorer_config: ScorerConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Return another scorer's triplet scores on a checkpoint, observed over the held-out batches.

    Each held-out batch is one observation (forward, backward, ``observe``), as in training
    but without optimizer steps. Scorers that smooth over many steps (adalora, ig_snr, ...)
    see only these few observations, so their scores are short-history estimates.
    """
    from .scoring import build_scorer

    adapters = checkpoint.adapters
    scorer = build_scorer(scorer_config, adapters, seed=seed)
    model = checkpoint.model
    device = next(model.parameters()).device
    model.eval()
    for index, batch in enumerate(checkpoint.held_out.batches, start=1):
        model.zero_grad(set_to_none=True)
        scorer.before_forward(index)
        loss = checkpoint.task.compute_loss(model, batch)
        loss.backward()
        adapters.set_path_scale(1.0)
        scorer.observe(index, make_loss_closure(model, checkpoint.task, batch, device, bf16=False))
    model.zero_grad(set_to_none=True)
    return scorer.triplet_scores()
