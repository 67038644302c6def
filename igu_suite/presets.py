"""Named starting configs: ``cpu``, ``paper`` and ``smoke`` (and ``auto``, which picks one).

A preset fills a :class:`~igu_suite.config.RunConfig` for a task; command-line options and
``--set section.field=value`` overrides apply on top.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

from .ablation_config import AblationConfig
from .config import AdapterConfig, EvalConfig, RunConfig, ScheduleConfig, ScorerConfig, TrainConfig
from .registry import task_registry
from .tasks import get_task

logger = logging.getLogger(__name__)


def cpu_preset(task: str) -> RunConfig:
    """Return the config of a packaged-MiniLM run that takes about 3 minutes on 2 CPU cores.

    600 optimizer steps of 16 examples at most 64 tokens (9,600 examples, drawn from the
    full training set with the run seed); rank 6 -> 2 on query, key, value, attention
    output, intermediate and output (216 -> 72 triplets). Evaluation on the full dev set.
    """
    return RunConfig(
        task=task,
        model="minilm",
        preset="cpu",
        adapter=AdapterConfig(init_rank=6, target_rank=2, lora_alpha=8.0, orth_reg_weight=0.1),
        schedule=ScheduleConfig(t_init=100, t_final=150, mask_interval=10),
        scorer=ScorerConfig(n_steps=8, score_every=10),
        train=TrainConfig(steps=600, batch_size=16, lr=4e-3, warmup_steps=30, max_length=64, group_by_length=True),
        eval=EvalConfig(batch_size=64, max_length=128),
    )


def smoke_preset(task: str) -> RunConfig:
    """Return a config of a few steps on a few examples, for tests that check that a run completes."""
    return RunConfig(
        task=task,
        model="minilm",
        preset="smoke",
        adapter=AdapterConfig(init_rank=4, target_rank=2),
        schedule=ScheduleConfig(t_init=2, t_final=2, mask_interval=2),
        scorer=ScorerConfig(n_steps=2, score_every=2),
        train=TrainConfig(steps=10, batch_size=8, lr=4e-3, max_length=32, train_subset=80, progress=False),
        eval=EvalConfig(subset=64, batch_size=32, max_length=64),
        ablation=AblationConfig(batches=1, max_triplets=8, max_modules=4),
    )


def lm_cpu_preset(task: str) -> RunConfig:
    """Return the config of a packaged-SmolLM2 causal-LM run sized for 2 CPU cores.

    SmolLM2-135M-Instruct with rank 4 -> 2 adapters on the attention and MLP projections of
    all 30 blocks (210 modules), 60 optimizer steps of 8 examples at most 96 tokens, then
    lm-eval zero-shot on 200 evaluation documents. Integrated gradients use 4 points every
    5 steps to keep the cost of ig and ig_snr near twice that of adalora.
    """
    return RunConfig(
        task=task,
        model="smollm2",
        preset="lm-cpu",
        adapter=AdapterConfig(init_rank=4, target_rank=2, lora_alpha=8.0, orth_reg_weight=0.1),
        schedule=ScheduleConfig(t_init=10, t_final=15, mask_interval=5),
        scorer=ScorerConfig(n_steps=4, score_every=5),
        train=TrainConfig(steps=60, batch_size=8, lr=1e-3, warmup_steps=5, max_length=96, group_by_length=True),
        eval=EvalConfig(subset=200, batch_size=16, num_fewshot=0),
        # SmolLM2 forward passes cost about 50 times MiniLM's, so the ablation measures fewer
        # triplets and modules on one held-out batch.
        ablation=AblationConfig(batches=1, max_triplets=16, max_modules=21),
    )


# The AdaLoRA authors' DeBERTaV3-base GLUE settings: QingruZhang/AdaLoRA, NLU/scripts/
# run_debertav3_<task>.sh at commit f6968aae21e27eaa28e4f10d12e365cd716a6e80 (the settings
# the AdaLoRA paper's GLUE table reports). Columns: learning rate, epochs, γ (reg_orth_coef),
# t_init (init_warmup), t_final (final_warmup), ΔT (mask_interval), init rank (lora_r),
# target rank, lora_alpha, max_seq_length, warmup (steps, or a fraction of T when below 1),
# weight decay, classifier dropout. Batch size is 32 for every task.
_PAPER_GLUE = {
    "mnli": (5e-4, 7, 0.1, 8000, 50000, 100, 3, 1, 16, 256, 1000, 0.0, 0.15),
    "rte": (1.2e-3, 50, 0.3, 600, 1800, 1, 2, 1, 32, 320, 200, 0.01, 0.20),
    "qnli": (5e-4, 5, 0.1, 2000, 8000, 100, 2, 1, 32, 512, 500, 0.01, 0.10),
    "mrpc": (1e-3, 30, 0.1, 600, 1800, 1, 2, 1, 32, 320, 0.1, 0.01, 0.0),
    "qqp": (8e-4, 5, 0.1, 8000, 25000, 100, 2, 1, 16, 320, 2000, 0.01, 0.15),
    "sst2": (8e-4, 24, 0.1, 6000, 22000, 100, 2, 1, 16, 128, 1000, 0.01, 0.0),
    "cola": (8e-4, 25, 0.1, 800, 3500, 10, 3, 1, 32, 64, 100, 0.0, 0.10),
    "stsb": (2.2e-3, 25, 0.3, 800, 2000, 10, 2, 1, 32, 128, 100, 0.1, 0.20),
}
PAPER_MODEL = "microsoft/deberta-v3-base"


def paper_preset(task: str) -> RunConfig:
    """Return the AdaLoRA authors' GLUE config for DeBERTaV3-base (downloaded from the hub; for GPUs)."""
    if task not in _PAPER_GLUE:
        raise ValueError(f"The paper preset covers the GLUE tasks {', '.join(sorted(_PAPER_GLUE))}, not {task!r}.")
    (lr, epochs, gamma, t_init, t_final, interval, init_rank, target_rank, alpha, max_length, warmup,
     weight_decay, head_dropout) = _PAPER_GLUE[task]
    config = RunConfig(
        task=task,
        model=PAPER_MODEL,
        preset="paper",
        adapter=AdapterConfig(init_rank=init_rank, target_rank=target_rank, lora_alpha=float(alpha),
                              orth_reg_weight=gamma),
        schedule=ScheduleConfig(t_init=t_init, t_final=t_final, mask_interval=interval),
        train=TrainConfig(steps=None, epochs=float(epochs), batch_size=32, lr=lr, weight_decay=weight_decay,
                          warmup_steps=int(warmup) if warmup >= 1 else 0,
                          warmup_ratio=warmup if warmup < 1 else None,
                          max_length=max_length, head_dropout=head_dropout),
        eval=EvalConfig(batch_size=128, max_length=max_length),
    )
    return config


PRESETS: dict[str, Callable[[str], RunConfig]] = {
    "cpu": cpu_preset,
    "paper": paper_preset,
    "smoke": smoke_preset,
    "lm-cpu": lm_cpu_preset,
}


def resolve_preset_name(name: str, task: str | None = None) -> str:
    """Return the concrete preset for ``name``.

    'auto' is 'lm-cpu' for a causal-LM task (the only causal-LM preset), else 'paper' with
    CUDA and 'cpu' without.
    """
    if name != "auto":
        return name
    if task is not None and task in task_registry and get_task(task).peft_task_type == "CAUSAL_LM":
        chosen, reason = "lm-cpu", f"{task} is a causal-LM task"
    elif torch.cuda.is_available():
        chosen, reason = "paper", "CUDA available"
    else:
        chosen, reason = "cpu", "no CUDA"
    logger.info("Preset 'auto' resolved to %r (%s)", chosen, reason)
    return chosen


# The task a preset trains on when none is given.
DEFAULT_TASKS = {"cpu": "sst2", "paper": "sst2", "smoke": "sst2", "lm-cpu": "arc_easy"}


def preset_config(name: str, task: str | None = None) -> RunConfig:
    """Return the config of preset ``name`` for ``task`` (None: the preset's default task)."""
    name = resolve_preset_name(name, task)
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; use one of auto, {', '.join(sorted(PRESETS))}.")
    return PRESETS[name](task or DEFAULT_TASKS[name])
