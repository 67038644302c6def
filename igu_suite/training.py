"""The one training loop that every scorer shares.

Per optimizer step t = 1..T:

    for each of grad_accum_steps micro-batches:
        scorer.before_forward(t)
        loss = task loss + γ · orthogonal penalty;  (loss / grad_accum_steps).backward()
    clip gradients; optimizer.step(); lr_scheduler.step()
    scorer.observe(t, loss closure on the last micro-batch)     while t < T - t_final
    allocator.update(t)                                         masks at allocation steps
    optimizer.zero_grad()

The scorer observes after the optimizer step, with the step's gradients still in ``.grad``.
peft's ``update_and_allocate`` and the AdaLoRA authors' code compute their scores at that
point too, so the ``adalora`` scorer here stays comparable with them.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch.func import functional_call
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from .adapters import SVDAdapters
from .allocator import RankAllocator
from .config import RunConfig, warmup_steps
from .scoring import ImportanceScorer
from .tasks import Task

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


@dataclass
class StepRecord:
    step: int
    loss: float
    task_loss: float
    learning_rate: float
    budget: int
    seconds: float
    extra_passes: int
    path_scale: float


@dataclass
class TrainResult:
    steps: list[StepRecord] = field(default_factory=list)
    wall_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""


def autocast_context(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """Return bf16 autocast on CUDA when enabled, else a no-op (CPU trains in fp32)."""
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_loss_closure(model: torch.nn.Module, task: Task, batch: dict[str, torch.Tensor], device: torch.device,
                      bf16: bool):
    """Return the task loss of ``batch`` as a function of optional parameter overrides."""

    def loss_closure(overrides: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        if overrides:
            def forward(**inputs: Any) -> Any:
                return functional_call(model, overrides, args=(), kwargs=inputs, strict=False)
        else:
            forward = model
        with autocast_context(device, bf16):
            return task.compute_loss(forward, batch)

    return loss_closure


def infinite_batches(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Yield batches forever, reshuffling at every pass over the data."""
    while True:
        yield from loader


def make_train_loader(task: Task, features: list[dict[str, Any]], tokenizer: Any, train_config, seed: int) -> DataLoader:
    """Return the training DataLoader; the same seed gives the same batches for every scorer."""
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if train_config.group_by_length:
        lengths = [len(feature["input_ids"]) for feature in features]
        sampler = LengthGroupedSampler(train_config.batch_size, lengths=lengths, generator=generator)
    return DataLoader(
        features,
        batch_size=train_config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator if sampler is None else None,
        collate_fn=lambda items: task.collate(tokenizer, items),
    )


def build_optimizer(model: torch.nn.Module, adapters: SVDAdapters, config: RunConfig) -> torch.optim.Optimizer:
    """AdamW with one group for the adapters and one for the rest of the trainable head."""
    adapter_ids = {id(parameter) for _, _, parameter in adapters.named_parameters()}
    adapter_parameters = [p for p in model.parameters() if p.requires_grad and id(p) in adapter_ids]
    head_parameters = [p for p in model.parameters() if p.requires_grad and id(p) not in adapter_ids]
    groups = [{"params": adapter_parameters, "lr": config.train.lr}]
    if head_parameters:
        groups.append({"params": head_parameters, "lr": config.train.head_lr or config.train.lr})
    return torch.optim.AdamW(groups, weight_decay=config.train.weight_decay)


def peak_memory(device: torch.device) -> tuple[float, str]:
    """Return the peak memory in MiB and what it measures."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    # ru_maxrss is in KiB on Linux: the peak resident set of the whole process.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


def train(
    model: torch.nn.Module,
    adapters: SVDAdapters,
    task: Task,
    features: list[dict[str, Any]],
    tokenizer: Any,
    config: RunConfig,
    total_steps: int,
    device: torch.device,
    scorer: ImportanceScorer | None = None,
    allocator: RankAllocator | None = None,
    description: str = "train",
    before_allocation: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train the adapters for ``total_steps`` optimizer steps; raise NonFiniteLossError on NaN loss.

    Without a scorer and allocator the masks stay as they are (the second stage of
    ``--two-stage``). ``before_allocation(step)`` runs every step after the scorer observed
    and before the allocator, with the step's gradients still in ``.grad`` (the ablation
    ground truth measures there).
    """
    train_config = config.train
    loader = make_train_loader(task, features, tokenizer, train_config, config.seed)
    batches = infinite_batches(loader)
    optimizer = build_optimizer(model, adapters, config)
    lr_scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps(train_config, total_steps), total_steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    orth_weight = config.adapter.orth_reg_weight
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    result = TrainResult()
    model.train()
    start = time.perf_counter()
    progress = tqdm(range(1, total_steps + 1), desc=description, disable=not train_config.progress, leave=False)
    for step in progress:
        step_start = time.perf_counter()
        passes_before = scorer.extra_passes if scorer is not None else 0

        # Forward and backward over the micro-batches of this step.
        total_loss = 0.0
        total_task_loss = 0.0
        path_scale = 1.0
        for micro_step in range(train_config.grad_accum_steps):
            batch = {k: v.to(device) for k, v in next(batches).items()}
            if scorer is not None:
                scorer.before_forward(step)
                path_scale = adapters.modules[0].layer.path_scale
            with autocast_context(device, train_config.bf16):
                task_loss = task.compute_loss(model, batch)
                loss = task_loss + orth_weight * adapters.orthogonal_penalty() if orth_weight else task_loss
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"The training loss became {loss.item()} at optimizer step {step} (micro-batch "
                    f"{micro_step + 1}). Lower train.lr, keep train.max_grad_norm set, or check the data."
                )
            (loss / train_config.grad_accum_steps).backward()
            adapters.set_path_scale(1.0)
            total_loss += loss.item() / train_config.grad_accum_steps
            total_task_loss += task_loss.item() / train_config.grad_accum_steps

        # Optimizer step.
        if train_config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(trainable, train_config.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()

        # Scores and masks, while gradients are still in .grad.
        if scorer is not None and allocator is not None and allocator.schedule.needs_scores(step):
            closure = make_loss_closure(model, task, batch, device, train_config.bf16)
            model.eval()  # the closure's passes run with dropout off, so repeated calls agree
            try:
                scorer.observe(step, closure)
            finally:
                model.train()
        if before_allocation is not None:
            before_allocation(step)
        if allocator is not None:
            allocator.update(step, scorer.triplet_scores)
        optimizer.zero_grad(set_to_none=True)

        # Bookkeeping.
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        budget = allocator.current_budget(step) if allocator is not None else sum(adapters.ranks().values())
        record = StepRecord(
            step=step,
            loss=total_loss,
            task_loss=total_task_loss,
            learning_rate=lr_scheduler.get_last_lr()[0],
            budget=budget,
            seconds=time.perf_counter() - step_start,
            extra_passes=(scorer.extra_passes if scorer is not None else 0) - passes_before,
            path_scale=path_scale,
        )
        result.steps.append(record)
        if step % 10 == 0 or step == total_steps:
            progress.set_postfix(loss=f"{total_loss:.4f}", budget=budget)
        logger.debug("step %d loss %.5f budget %d", step, total_loss, budget)

    result.wall_seconds = time.perf_counter() - start
    result.peak_memory_mb, result.memory_kind = peak_memory(device)
    return result
