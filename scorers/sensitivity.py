"""First-order sensitivity scorer."""

from __future__ import annotations

import torch

from igu_suite.adapters import AdaptedModule
from igu_suite.scoring import EntrywiseScorer, LossClosure, gradient_or_zeros


class SensitivityScorer(EntrywiseScorer):
    """Score each entry by its instantaneous first-order sensitivity |θ ⊙ ∇θ L|.

    The first-order Taylor estimate of the loss change when the entry is set to zero
    (Molchanov et al., 2019; the unsmoothed importance I of AdaLoRA, Eq. 8). Only the
    latest step counts. Higher means more important.
    """

    name = "sensitivity"
    summary = "Instantaneous first-order sensitivity |θ·∇θ L|; no extra passes."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        self._latest: dict[tuple[str, str], torch.Tensor] = {}

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        for module, role, parameter in self.adapters.named_parameters():
            value = parameter.detach().float()
            self._latest[(module.name, role)] = (value * gradient_or_zeros(parameter)).abs()

    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        return self._latest.get((module.name, role))
