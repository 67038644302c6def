"""The ``ablation`` config section: when and how the ablation ground truth is measured.

It lives apart from :mod:`igu_suite.config` so that the section can grow without touching
the other sections; :class:`~igu_suite.config.RunConfig` includes it as ``ablation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class AblationConfig:
    """Ablation ground truth: the held-out loss increase when triplets or modules are masked."""

    enabled: bool = _help(
        "Measure the ablation ground truth at the checkpoints during training and write "
        "ablation.csv. The measuring time is left out of the run's seconds per step and wall time.",
        default=True,
    )
    fractions: list[float] = _help(
        "Checkpoints as positions in the pruning phase: 0 is step t_init, 1 is the final "
        "allocation at T - t_final. Each moves to the nearest allocation step (the earlier one "
        "on a tie), where the run's own scores are recorded.",
        default_factory=lambda: [0.5, 1.0],
    )
    steps: list[int] | None = _help(
        "Explicit checkpoint steps in 1..T; when set, they replace fractions. A checkpoint that "
        "is not an allocation step is compared with the scores of the latest allocation before it.",
        default=None,
    )
    batches: int = _help("Held-out batches that the loss is measured on.", default=2)
    batch_size: int | None = _help("Examples per held-out batch; None uses train.batch_size.", default=None)
    max_triplets: int | None = _help(
        "Triplets masked one at a time per checkpoint. Every active (unmasked) triplet is "
        "measured when there are at most this many, else a seeded sample of this many; None "
        "measures every active triplet.",
        default=32,
    )
    max_modules: int | None = _help(
        "Modules masked whole (all active triplets at once) per checkpoint: every module with "
        "an active triplet when None, else a seeded sample of this many.",
        default=None,
    )
    seed: int = _help(
        "Seed of the held-out rows and of the triplet and module samples. It does not depend "
        "on the run seed, so runs with the same candidate rows get the same held-out batches.",
        default=0,
    )
    save_checkpoints: bool = _help(
        "Save the adapter (peft format, every triplet kept) and the masks at each checkpoint "
        "under ablation/step-NNNNNN/, so that other scorers can be scored on the same state.",
        default=True,
    )

    def __post_init__(self) -> None:
        # Command-line overrides arrive as lists of strings.
        self.fractions = [float(value) for value in self.fractions]
        if self.steps is not None:
            self.steps = [int(value) for value in self.steps]
        for value in self.fractions:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ablation.fractions must lie in [0, 1], got {value}.")
        if self.steps is not None and any(step < 1 for step in self.steps):
            raise ValueError(f"ablation.steps must be optimizer steps of at least 1, got {self.steps}.")
        if self.enabled and not self.fractions and not self.steps:
            raise ValueError("ablation.fractions and ablation.steps are both empty; set one or ablation.enabled=false.")
        if self.batches < 1:
            raise ValueError(f"ablation.batches must be at least 1, got {self.batches}.")
        for name in ("batch_size", "max_triplets", "max_modules"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"ablation.{name} must be at least 1 or None, got {value}.")
