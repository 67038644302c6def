"""Run configuration as dataclasses, with documented defaults and cross-field checks.

Each field's ``metadata["help"]`` is the text that ``igu-suite run --help-config`` prints.
Checks that need only the config itself live in ``__post_init__``. Checks that need the
real number of optimizer steps (the schedule has to fit into it) live in
:func:`validate_against_steps`, which the run driver calls once the data is known.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .ablation_config import AblationConfig

MASK_MODES = ("hard", "peft")
SCHEDULE_CONVENTIONS = ("peft", "paper")


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class AdapterConfig:
    """SVD adapters: where they go, their ranks and how they start."""

    target_modules: list[str] | None = _help(
        "Name patterns of the linear modules to adapt. A pattern matches a module whose name "
        "equals it or ends with '.' + pattern; a pattern starting with 're:' is a regular "
        "expression matched against the full name. None takes the model family's default "
        "(BERT-style encoders: query, key, value, attention output, intermediate, output).",
        default=None,
    )
    init_rank: int = _help("Initial rank r of every adapted module (triplets per module).", default=6)
    target_rank: int = _help(
        "Average rank per module after pruning: the target budget is target_rank x modules.",
        default=2,
    )
    lora_alpha: float = _help(
        "Scale of the update. As in peft, ΔW is multiplied by lora_alpha / init_rank.",
        default=8.0,
    )
    lora_dropout: float = _help("Dropout on the adapter input (0 disables it).", default=0.0)
    orth_reg_weight: float = _help(
        "Weight γ of the orthogonal penalty ||PᵀP − I||_F + ||QQᵀ − I||_F, averaged over "
        "matrices. The default 0.1 is the AdaLoRA authors' GLUE setting; peft's "
        "AdaLoraConfig defaults to 0.5.",
        default=0.1,
    )
    singular_value_init: float = _help(
        "Initial value of every λ_i. 0 makes the adapted model equal the base model at step 0; "
        "the IGU-LoRA authors' code starts at 0.1.",
        default=0.0,
    )
    mask_mode: str = _help(
        "How a pruned triplet is removed. 'hard': a mask buffer multiplies λ, so the triplet "
        "contributes nothing and gets no gradient until the allocator keeps it again. 'peft': "
        "λ is zeroed in place at each allocation, as peft's RankAllocator does, and may grow "
        "back between allocations.",
        default="hard",
    )

    def __post_init__(self) -> None:
        if self.init_rank < 1:
            raise ValueError(f"adapter.init_rank must be at least 1, got {self.init_rank}.")
        if self.target_rank < 0:
            raise ValueError(f"adapter.target_rank must be 0 or more, got {self.target_rank}.")
        if self.target_rank > self.init_rank:
            raise ValueError(
                f"adapter.target_rank ({self.target_rank}) is above adapter.init_rank "
                f"({self.init_rank}); pruning can only lower the rank. Lower target_rank or "
                "raise init_rank."
            )
        if self.orth_reg_weight < 0:
            raise ValueError(f"adapter.orth_reg_weight must be 0 or more, got {self.orth_reg_weight}.")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"adapter.lora_dropout must be in [0, 1), got {self.lora_dropout}.")
        if self.mask_mode not in MASK_MODES:
            raise ValueError(f"adapter.mask_mode must be one of {MASK_MODES}, got {self.mask_mode!r}.")
        if isinstance(self.target_modules, str):
            self.target_modules = [p.strip() for p in self.target_modules.split(",") if p.strip()]


@dataclass
class ScheduleConfig:
    """AdaLoRA's cubic budget schedule, in optimizer steps."""

    t_init: int = _help("Steps at the full initial budget before pruning starts (t_i).", default=50)
    t_final: int = _help("Final steps at the target budget with the rank pattern fixed (t_f).", default=100)
    mask_interval: int = _help("Steps between two allocations while the budget shrinks (ΔT).", default=10)
    convention: str = _help(
        "Source of the schedule formula. 'peft' follows peft's and the AdaLoRA authors' code "
        "(full budget while step <= t_init, cubic in t - t_init). 'paper' follows Eq. (12) of "
        "the AdaLoRA paper as printed (full budget while step < t_init, cubic in "
        "t - t_init - t_final, capped at the initial budget). See igu_suite.schedule.",
        default="peft",
    )

    def __post_init__(self) -> None:
        if self.t_init < 0:
            raise ValueError(f"schedule.t_init must be 0 or more, got {self.t_init}.")
        if self.t_final < 0:
            raise ValueError(f"schedule.t_final must be 0 or more, got {self.t_final}.")
        if self.mask_interval < 1:
            raise ValueError(f"schedule.mask_interval must be at least 1, got {self.mask_interval}.")
        if self.convention not in SCHEDULE_CONVENTIONS:
            raise ValueError(
                f"schedule.convention must be one of {SCHEDULE_CONVENTIONS}, got {self.convention!r}."
            )


@dataclass
class ScorerConfig:
    """Importance scorer that ranks the triplets, and its options."""

    name: str = _help(
        "Registered scorer name (see `igu-suite scorers`) or a dotted path 'package.module:Class'.",
        default="adalora",
    )
    beta1: float = _help("EMA factor of the smoothed importance Ī.", default=0.85)
    beta2: float = _help("EMA factor of the uncertainty Ū.", default=0.85)
    n_steps: int = _help("Quadrature points N of integrated gradients.", default=8)
    method: str = _help(
        "Quadrature rule of integrated gradients: gausslegendre, riemann_trapezoid, "
        "riemann_left, riemann_right or riemann_middle.",
        default="gausslegendre",
    )
    score_every: int = _help(
        "Integrated gradients are recomputed every this many optimizer steps; the last result "
        "is kept in between.",
        default=10,
    )
    snr_epsilon: float = _help("ε in SNR = Ī / (Ū + ε); keeps the ratio finite when Ū is 0.", default=1e-12)
    alpha_grid_size: int = _help(
        "K of igu_sampled: α is drawn uniformly from {1/K, 2/K, ..., 1} per micro-batch.", default=8
    )
    options: dict[str, Any] = _help("Extra options for plug-in scorers.", default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"scorer.{name} must be strictly between 0 and 1, got {value}.")
        if self.n_steps < 1:
            raise ValueError(f"scorer.n_steps must be at least 1, got {self.n_steps}.")
        if self.score_every < 1:
            raise ValueError(f"scorer.score_every must be at least 1, got {self.score_every}.")
        if self.alpha_grid_size < 1:
            raise ValueError(f"scorer.alpha_grid_size must be at least 1, got {self.alpha_grid_size}.")
        if self.snr_epsilon <= 0:
            raise ValueError(f"scorer.snr_epsilon must be positive, got {self.snr_epsilon}.")


@dataclass
class TrainConfig:
    """The optimizer loop shared by every scorer."""

    steps: int | None = _help(
        "Optimizer steps T. None derives T from epochs and the training-set size.", default=600
    )
    epochs: float | None = _help("Epochs over the training set, used only when steps is None.", default=None)
    batch_size: int = _help("Examples per micro-batch.", default=16)
    grad_accum_steps: int = _help("Micro-batches per optimizer step.", default=1)
    lr: float = _help("Peak learning rate of AdamW for the adapters.", default=4e-3)
    head_lr: float | None = _help(
        "Learning rate of the task head (classifier), if the task has one; None uses lr.", default=None
    )
    weight_decay: float = _help("AdamW weight decay.", default=0.0)
    warmup_steps: int = _help("Linear warmup steps; the rate then decays linearly to 0 at step T.", default=0)
    warmup_ratio: float | None = _help(
        "Warmup as a fraction of T; when set, it replaces warmup_steps (rounded to whole steps).", default=None
    )
    max_grad_norm: float | None = _help("Gradient clipping norm; None disables clipping.", default=1.0)
    max_length: int = _help("Maximum tokens per example; longer inputs are truncated.", default=64)
    group_by_length: bool = _help(
        "Batch examples of similar length together (transformers' LengthGroupedSampler), which cuts "
        "padding; batches are still drawn in a seeded random order.",
        default=False,
    )
    train_subset: int | None = _help(
        "Use this many training examples, drawn with the run seed; None uses all of them.", default=None
    )
    device: str = _help("'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.", default="auto")
    bf16: bool = _help("Use bf16 autocast on CUDA. Ignored on CPU, which trains in fp32.", default=True)
    progress: bool = _help("Show a tqdm progress bar.", default=True)
    head_dropout: float | None = _help(
        "Dropout before the classifier; None keeps the model's own setting.", default=None
    )

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None:
            raise ValueError("train.steps and train.epochs are both None; set one of them.")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"train.steps must be at least 1, got {self.steps}.")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"train.epochs must be positive, got {self.epochs}.")
        for name in ("batch_size", "grad_accum_steps", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}.")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be positive, got {self.lr}.")
        if self.warmup_steps < 0:
            raise ValueError(f"train.warmup_steps must be 0 or more, got {self.warmup_steps}.")
        if self.warmup_ratio is not None and not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"train.warmup_ratio must be in [0, 1) or None, got {self.warmup_ratio}.")
        if self.train_subset is not None and self.train_subset < 1:
            raise ValueError(f"train.train_subset must be at least 1 or None, got {self.train_subset}.")


@dataclass
class EvalConfig:
    """Evaluation after training."""

    split: str | None = _help(
        "Split to evaluate on; None takes the task's evaluation split ('dev' for GLUE, 'eval' for causal-LM tasks).",
        default=None,
    )
    subset: int | None = _help("Evaluate on the first this many examples; None uses all.", default=None)
    batch_size: int = _help("Examples per evaluation batch.", default=64)
    max_length: int = _help("Maximum tokens per evaluation example; longer inputs are truncated.", default=128)
    lm_eval_tasks: list[str] | None = _help(
        "lm-evaluation-harness tasks for causal-LM runs; None evaluates the training task. The first "
        "metrics are reported without a prefix, other tasks' as task/metric.",
        default=None,
    )
    num_fewshot: int = _help("Few-shot examples per lm-eval prompt (causal-LM runs).", default=0)

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError(f"eval.max_length must be at least 1, got {self.max_length}.")
        if self.num_fewshot < 0:
            raise ValueError(f"eval.num_fewshot must be 0 or more, got {self.num_fewshot}.")
        if isinstance(self.lm_eval_tasks, str):
            self.lm_eval_tasks = [name.strip() for name in self.lm_eval_tasks.split(",") if name.strip()]
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"eval.subset must be at least 1 or None, got {self.subset}.")
        if self.batch_size < 1:
            raise ValueError(f"eval.batch_size must be at least 1, got {self.batch_size}.")


@dataclass
class RunConfig:
    """Everything one training run depends on. Saved as config.json in the run folder."""

    task: str = _help("Registered task name (see `igu-suite tasks`).", default="sst2")
    model: str = _help(
        "Model: 'minilm' (the packaged all-MiniLM-L6-v2), a local folder or a Hugging Face hub id.",
        default="minilm",
    )
    data_dir: str | None = _help(
        "Folder laid out as glue/<TASK>/{train,dev}.tsv; None reads IGU_DATA_DIR, then the hub.",
        default=None,
    )
    seed: int = _help("Seed of python, numpy and torch; also fixes the data order.", default=0)
    preset: str | None = _help("Name of the preset this config started from.", default=None)
    two_stage: bool = _help(
        "After training, retrain fresh adapters with the final rank pattern fixed, and report both.",
        default=False,
    )
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Build a config from ``to_dict`` output or a run's config.json (its ``resolved`` part is ignored)."""
        return _build(cls, {k: v for k, v in data.items() if k != RESOLVED_KEY}, prefix="")


# config.json contains the RunConfig plus, under this key, what the run derived from it and the
# data (total steps, example counts, how the splits were formed).
RESOLVED_KEY = "resolved"

_SECTIONS = {
    "adapter": AdapterConfig,
    "schedule": ScheduleConfig,
    "scorer": ScorerConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "ablation": AblationConfig,
}


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"Unknown config field(s) {', '.join(prefix + u for u in unknown)}.")
    kwargs = {}
    for name, value in data.items():
        if name in _SECTIONS and cls is RunConfig:
            kwargs[name] = _build(_SECTIONS[name], value, prefix=f"{name}.")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def validate_against_steps(config: RunConfig, total_steps: int) -> None:
    """Raise ValueError unless the schedule fits into ``total_steps`` optimizer steps."""
    schedule = config.schedule
    if schedule.t_init + schedule.t_final >= total_steps:
        raise ValueError(
            f"The budget schedule does not fit: t_init ({schedule.t_init}) + t_final "
            f"({schedule.t_final}) = {schedule.t_init + schedule.t_final} must be smaller than "
            f"the {total_steps} optimizer steps of this run. Lower schedule.t_init or "
            "schedule.t_final, or train for more steps."
        )


def total_optimizer_steps(train: TrainConfig, n_train_examples: int) -> int:
    """Return T: train.steps, or the optimizer steps that train.epochs take."""
    if train.steps is not None:
        return train.steps
    examples_per_step = train.batch_size * train.grad_accum_steps
    return max(1, math.ceil(train.epochs * n_train_examples / examples_per_step))


def warmup_steps(train: TrainConfig, total_steps: int) -> int:
    """Return the warmup length in optimizer steps: warmup_ratio x T when set, else warmup_steps."""
    if train.warmup_ratio is not None:
        return int(round(train.warmup_ratio * total_steps))
    return train.warmup_steps


def _parse_value(raw: str, annotation: Any) -> Any:
    """Convert a command-line string to the type a config field is annotated with."""
    text = raw.strip()
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        non_none = [a for a in args if a is not type(None)]
        return _parse_value(text, non_none[0])
    if annotation is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if origin is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if origin is dict:
        return json.loads(text)
    return text


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Return a copy of ``config`` with ``section.field=value`` overrides applied.

    Top-level fields take ``field=value``. Values are parsed by the field's type; lists are
    comma-separated and ``none`` sets an optional field to None.
    """
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"Invalid override {item!r}: expected section.field=value, e.g. train.lr=1e-3.")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) == 1:
            cls, section, name = RunConfig, None, parts[0]
        elif len(parts) == 2 and parts[0] in _SECTIONS:
            cls, section, name = _SECTIONS[parts[0]], parts[0], parts[1]
        else:
            raise ValueError(
                f"Invalid override key {key!r}: use field or section.field with a section in "
                f"{sorted(_SECTIONS)}."
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in fields or name in _SECTIONS:
            raise ValueError(
                f"Unknown config field {key!r}. Fields of {section or 'the run'}: "
                f"{', '.join(n for n in fields if n not in _SECTIONS)}."
            )
        hints = typing.get_type_hints(cls)
        try:
            value = _parse_value(raw, hints[name])
        except ValueError as error:
            raise ValueError(f"Invalid value for {key}: {error}") from None
        target = data if section is None else data[section]
        target[name] = value
    return RunConfig.from_dict(data)


def describe_fields() -> str:
    """Return every config field with its default and help text, one per line."""
    lines = []
    default = RunConfig()
    for f in dataclasses.fields(RunConfig):
        if f.name in _SECTIONS:
            continue
        lines.append(f"{f.name} = {getattr(default, f.name)!r}\n    {f.metadata.get('help', '')}")
    for section, cls in _SECTIONS.items():
        instance = getattr(default, section)
        for f in dataclasses.fields(cls):
            lines.append(f"{section}.{f.name} = {getattr(instance, f.name)!r}\n    {f.metadata.get('help', '')}")
    return "\n".join(lines)
