"""Integrated-gradients scorer in parameter space (captum)."""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients

from igu_suite.adapters import AdaptedModule
from igu_suite.scoring import EntrywiseScorer, LossClosure

QUADRATURE_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def validate_quadrature(method: str, n_steps: int) -> None:
    """Raise ValueError for a quadrature rule or point count that captum cannot use."""
    if method not in QUADRATURE_METHODS:
        raise ValueError(f"Unknown integrated-gradients method {method!r}; use one of {', '.join(QUADRATURE_METHODS)}.")
    minimum = 1 if method == "gausslegendre" else 2
    if n_steps < minimum:
        raise ValueError(f"Method {method} needs n_steps >= {minimum}, got {n_steps}.")


def integrated_gradients(
    loss_fn: LossClosure,
    names: list[str],
    values: list[torch.Tensor],
    n_steps: int,
    method: str = "gausslegendre",
) -> list[torch.Tensor]:
    """Return IG of ``loss_fn`` for each tensor along the straight path from 0 to ``values``.

    IG_j = θ_j ∫_0^1 ∂L(αθ)/∂θ_j dα (Sundararajan et al., "Axiomatic Attribution for Deep
    Networks", ICML 2017), with all tensors scaled by the same α and a zero baseline. By
    completeness, Σ_j IG_j = L(θ) - L(0) up to quadrature error. ``loss_fn`` takes a dict
    from ``names`` to tensors. Runs n_steps forward and backward passes, one point at a time.

    captum 0.9's ``riemann_trapezoid`` places n points at spacing 1/(n-1) but weights them
    1/n (halved at the ends). Its weights therefore sum to (n-1)/n, and completeness fails by
    that factor. The result is rescaled by n/(n-1), which gives the composite trapezoid rule
    exactly. With that, every method's weights sum to 1, so completeness holds for any
    n_steps when the loss is linear along the path. On curved paths the error falls as
    O(1/N) for riemann_left and riemann_right and O(1/N²) for riemann_middle and
    riemann_trapezoid. Gauss-Legendre is exact once the loss, as a polynomial in α, has
    degree at most 2N (tests/test_fidelity_ig.py measures all three).
    """
    validate_quadrature(method, n_steps)
    inputs = tuple(value.detach().unsqueeze(0) for value in values)  # (1, *shape) each
    baselines = tuple(torch.zeros_like(tensor) for tensor in inputs)

    def loss_along_path(*scaled: torch.Tensor) -> torch.Tensor:
        points = scaled[0].shape[0]  # captum stacks the path points on dim 0
        losses = [loss_fn({name: tensor[i] for name, tensor in zip(names, scaled)}) for i in range(points)]
        return torch.stack(losses).reshape(points)

    attributions = IntegratedGradients(loss_along_path).attribute(
        inputs, baselines=baselines, n_steps=n_steps, method=method, internal_batch_size=1
    )
    correction = n_steps / (n_steps - 1) if method == "riemann_trapezoid" else 1.0
    return [attribution.squeeze(0).float() * correction for attribution in attributions]


class IntegratedGradientsScorer(EntrywiseScorer):
    """Score each entry by the magnitude of its integrated gradient in parameter space.

    IG_j = θ_j ∫_0^1 ∂L(αθ)/∂θ_j dα over every P, λ and Q entry of every adapter at once,
    on the current micro-batch with dropout off, from a zero baseline (which is the base
    model). The integral uses captum's ``IntegratedGradients`` with ``scorer.n_steps``
    points of ``scorer.method``. It is recomputed every ``scorer.score_every`` steps and at
    the first observed step, and the last result is held in between. The entry score is
    |IG_j|, and the triplet score sums it over λ_i and the means over Q_i· and P_·i. Higher
    means more important.

    Cost: n_steps extra forward and backward passes per recomputation.
    """

    name = "ig"
    summary = "Integrated gradients |IG| in parameter space (captum; n_steps, method, score_every)."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        validate_quadrature(config.method, config.n_steps)
        self._latest: dict[tuple[str, str], torch.Tensor] | None = None

    def compute_attributions(self, loss_closure: LossClosure) -> dict[tuple[str, str], torch.Tensor]:
        """Run integrated gradients once and return the signed IG of every (module, role)."""
        keys, names, values = [], [], []
        for module, role, parameter in self.adapters.named_parameters():
            keys.append((module.name, role))
            names.append(module.parameter_names[role])
            values.append(parameter)
        attributions = integrated_gradients(loss_closure, names, values, self.config.n_steps, self.config.method)
        self.extra_passes += self.config.n_steps
        return dict(zip(keys, attributions))

    def is_due(self, step: int) -> bool:
        return self._latest is None or step % self.config.score_every == 0

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        if not self.is_due(step):
            return
        attributions = self.compute_attributions(loss_closure)
        self._latest = {key: value.abs() for key, value in attributions.items()}

    def entry_score(self, module: AdaptedModule, role: str) -> torch.Tensor | None:
        if self._latest is None:
            return None
        return self._latest[(module.name, role)]
