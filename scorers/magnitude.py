"""Gradient-magnitude scorer."""

from __future__ import annotations

import torch

from igu_suite.adapters import AdaptedModule
from igu_suite.scoring import EntrywiseScorer, LossClosure, SmoothedImportance, gradient_or_zeros


class MagnitudeScorer(EntrywiseScorer):
    """Score each entry by the EMA of its gradient magnitude.

    s_t = β1 s_{t-1} + (1 - β1) |∇θ L_t|, with β1 = ``scorer.beta1``; the triplet score sums
    s over λ_i and the means over Q_i· and P_·i. Higher means more important. A baseline
    that ignores the parameter's value: a triplet with λ = 0 can still score high.
    """

    name = "magnitude"
    summary = "EMA of the gradient magnitude |∇θ L| (beta1); no extra passes."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        self._smoothed = SmoothedImportance(config.beta1, config.beta2)

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        for module, role, parameter in self.adapters.named_parameters():
            self._smoothed.update((module.name, role), gradient_or_zeros(parameter).abs())

    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        key = (module.name, role)
        if not self._smoothed.has(key):
            return None
        return self._smoothed.smoothed_importance[key]
