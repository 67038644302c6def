"""IGU-LoRA's uncertainty-aware integrated-gradients scorer."""

from __future__ import annotations

import torch

from igu_suite.adapters import AdaptedModule
from igu_suite.scoring import LossClosure, SmoothedImportance

from .ig import IntegratedGradientsScorer


class IntegratedGradientsSNRScorer(IntegratedGradientsScorer):
    """IGU-LoRA: the signal-to-noise ratio of the integrated-gradient magnitude.

    Each time integrated gradients are computed (see ``ig``), with I = |IG|:

        Ī = β1 Ī + (1 - β1) I,   Ū = β2 Ū + (1 - β2) |I - Ī|,   s = Ī / (Ū + ε)

    ε = ``scorer.snr_epsilon``. An entry whose attribution is large and steady scores high;
    one whose attribution swings between recomputations scores low. The ratio does not
    change when the stream is scaled by a constant (up to ε), so modules with large
    gradients do not win by scale alone. Higher means more important.

    NOTE: after the first update every nonzero entry has the same SNR, (1 - β1) / ((1 - β2) β1),
    so an allocation before the second computation (for example t_init = 0 with
    mask_interval < score_every) finds all triplets tied and keeps them in module order.
    """

    name = "ig_snr"
    summary = "IGU-LoRA: SNR Ī/(Ū+ε) of |IG| across recomputations (n_steps, method, score_every)."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        self._smoothed = SmoothedImportance(config.beta1, config.beta2)
        self._computed = False

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        if self._computed and step % self.config.score_every != 0:
            return
        for key, attribution in self.compute_attributions(loss_closure).items():
            self._smoothed.update(key, attribution.abs())
        self._computed = True

    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        key = (module.name, role)
        if not self._smoothed.has(key):
            return None
        return snr(self._smoothed, key, self.config.snr_epsilon)


def snr(smoothed: SmoothedImportance, key: tuple[str, str], epsilon: float) -> torch.Tensor:
    """Return Ī / (Ū + ε) for one entry key."""
    return smoothed.smoothed_importance[key] / (smoothed.uncertainty[key] + epsilon)
