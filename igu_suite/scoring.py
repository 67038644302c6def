"""The importance-scorer contract, the triplet aggregation and scorer lookup.

A scorer is one class in ``scorers/`` (or a plug-in) that subclasses
:class:`ImportanceScorer`. The training loop calls, per optimizer step t:

1. ``before_forward(t)`` before each micro-batch's forward pass (igu_sampled uses it to
   scale the adapters; most scorers do nothing);
2. ``observe(t, loss_closure)`` after the optimizer step and before ``zero_grad``, while
   ``t < T - t_final``. The adapter parameters contain their values after the step and
   ``.grad`` contains the (clipped) gradient of the step. peft's and the AdaLoRA authors'
   RankAllocator see the same. ``loss_closure`` re-runs the last micro-batch;
3. ``triplet_scores()`` at allocation steps: one fp32 score per triplet, shape (r,) per
   module; higher means more important.

Scorers keep their state in fp32 whatever dtype the model trains in, and count every extra
forward+backward pass they run in :attr:`ImportanceScorer.extra_passes`.
"""

from __future__ import annotations

import abc
import inspect
from typing import ClassVar, Protocol

import torch

from .adapters import AdaptedModule, SVDAdapters
from .config import ScorerConfig
from .registry import import_dotted, scorer_registry


class LossClosure(Protocol):
    """Task loss on the current micro-batch, dropout off.

    ``overrides`` maps full parameter names (``AdaptedModule.parameter_names``) to tensors
    used in their place through ``torch.func.functional_call``; None uses the parameters.
    """

    def __call__(self, overrides: dict[str, torch.Tensor] | None = None) -> torch.Tensor: ...


EntryKey = tuple[str, str]  # (module name, role)


def aggregate_triplet_scores(
    left: torch.Tensor, singular_values: torch.Tensor, right: torch.Tensor
) -> torch.Tensor:
    """Sum per-entry scores into per-triplet scores, as AdaLoRA does.

    S_i = s(λ_i) + mean_j s(Q_ij) + mean_j s(P_ji), for left P (d_out, r), singular_values
    λ (r, 1) and right Q (r, d_in). Returns shape (r,). The additions run in the same order
    as peft's ``RankAllocator.mask_to_budget`` so that scores agree bit for bit.
    """
    right_mean = right.mean(dim=1)  # (r,)
    left_mean = left.mean(dim=0)  # (r,)
    return singular_values.view(-1) + (right_mean + left_mean)


class ImportanceScorer(abc.ABC):
    """Base class of every importance scorer. Subclasses set ``name`` and ``summary``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def __init__(self, adapters: SVDAdapters, config: ScorerConfig, seed: int = 0) -> None:
        self.adapters = adapters
        self.config = config
        self.seed = seed
        self.extra_passes = 0

    def before_forward(self, step: int) -> None:
        """Prepare the adapters for the forward pass of one micro-batch of ``step``."""

    @abc.abstractmethod
    def observe(self, step: int, loss_closure: LossClosure) -> None:
        """Update the scores from the gradients of ``step`` and, if needed, extra passes."""

    @abc.abstractmethod
    def triplet_scores(self) -> dict[str, torch.Tensor]:
        """Return one fp32 score per triplet for every module name, shape (r,)."""


class EntrywiseScorer(ImportanceScorer):
    """A scorer that scores every entry of P, λ and Q and aggregates them per triplet."""

    @abc.abstractmethod
    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        """Return the fp32 score of each entry of one parameter, or None before any update."""

    def triplet_scores(self) -> dict[str, torch.Tensor]:
        scores = {}
        for module in self.adapters:
            per_role = {role: self.entry_score(module, role) for role in ("left", "singular_values", "right")}
            if any(value is None for value in per_role.values()):
                scores[module.name] = torch.zeros(module.rank, dtype=torch.float32)
                continue
            scores[module.name] = aggregate_triplet_scores(
                per_role["left"], per_role["singular_values"], per_role["right"]
            ).float()
        return scores


class SmoothedImportance:
    """AdaLoRA's exponential moving averages of an importance stream I_t, per entry.

    Ī_t = β1 Ī_{t-1} + (1 - β1) I_t           (smoothed importance)
    Ū_t = β2 Ū_{t-1} + (1 - β2) |I_t - Ī_t|   (uncertainty)

    Both start at 0 and use Ī_t of the same step in Ū_t, as peft's ``update_ipt`` does.
    """

    def __init__(self, beta1: float, beta2: float) -> None:
        self.beta1 = beta1
        self.beta2 = beta2
        self.smoothed_importance: dict[EntryKey, torch.Tensor] = {}
        self.uncertainty: dict[EntryKey, torch.Tensor] = {}

    def update(self, key: EntryKey, importance: torch.Tensor) -> None:
        importance = importance.detach().float()
        if key not in self.smoothed_importance:
            self.smoothed_importance[key] = torch.zeros_like(importance)
            self.uncertainty[key] = torch.zeros_like(importance)
        smoothed = self.beta1 * self.smoothed_importance[key] + (1 - self.beta1) * importance
        self.smoothed_importance[key] = smoothed
        self.uncertainty[key] = self.beta2 * self.uncertainty[key] + (1 - self.beta2) * (importance - smoothed).abs()

    def has(self, key: EntryKey) -> bool:
        return key in self.smoothed_importance


def gradient_or_zeros(parameter: torch.nn.Parameter) -> torch.Tensor:
    """Return the parameter's gradient in fp32, or zeros if it received none."""
    if parameter.grad is None:
        return torch.zeros_like(parameter, dtype=torch.float32)
    return parameter.grad.detach().float()


def resolve_scorer_class(name: str) -> type[ImportanceScorer]:
    """Return the scorer class for a registered name or a ``package.module:Class`` path."""
    if ":" in name:
        cls = import_dotted(name, "scorer")
    else:
        cls = scorer_registry.get(name)
    if not (inspect.isclass(cls) and issubclass(cls, ImportanceScorer)):
        raise ValueError(
            f"Scorer {name!r} resolves to {cls!r}, which is not a subclass of "
            "igu_suite.scoring.ImportanceScorer."
        )
    if inspect.isabstract(cls):
        raise ValueError(f"Scorer {name!r} ({cls.__name__}) does not implement every abstract method.")
    return cls


def build_scorer(config: ScorerConfig, adapters: SVDAdapters, seed: int) -> ImportanceScorer:
    cls = resolve_scorer_class(config.name)
    return cls(adapters, config, seed=seed)


def describe_scorers() -> list[tuple[str, str]]:
    """Return (name, one-line summary) of every registered scorer, built-in and plug-in."""
    rows = []
    for name, cls in scorer_registry.items():
        summary = getattr(cls, "summary", "") or (inspect.getdoc(cls) or "").split("\n")[0]
        rows.append((name, summary))
    return rows


