"""AdaLoRA's sensitivity-times-uncertainty scorer."""

from __future__ import annotations

import torch

from igu_suite.adapters import AdaptedModule
from igu_suite.scoring import EntrywiseScorer, LossClosure, SmoothedImportance, gradient_or_zeros


class AdaLoraScorer(EntrywiseScorer):
    """AdaLoRA's importance score: smoothed sensitivity times uncertainty.

    With I_t = |θ ⊙ ∇θ L_t| (Zhang et al., "AdaLoRA", ICLR 2023, Eq. 8-11):

        Ī_t = β1 Ī_{t-1} + (1 - β1) I_t
        Ū_t = β2 Ū_{t-1} + (1 - β2) |I_t - Ī_t|
        s_t = Ī_t · Ū_t

    Defaults β1 = β2 = 0.85 as in peft and the paper. The triplet score sums s over λ_i and
    the means over Q_i· and P_·i. Higher means more important. Same arithmetic as peft's
    ``RankAllocator.update_ipt`` and ``_element_score``.
    """

    name = "adalora"
    summary = "AdaLoRA: smoothed sensitivity x uncertainty of |θ·∇θ L| (beta1, beta2); no extra passes."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        self._smoothed = SmoothedImportance(config.beta1, config.beta2)

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        for module, role, parameter in self.adapters.named_parameters():
            sensitivity = (parameter.detach().float() * gradient_or_zeros(parameter)).abs()
            self._smoothed.update((module.name, role), sensitivity)

    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        key = (module.name, role)
        if not self._smoothed.has(key):
            return None
        return self._smoothed.smoothed_importance[key] * self._smoothed.uncertainty[key]
