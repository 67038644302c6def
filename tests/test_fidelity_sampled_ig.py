"""igu_sampled: its expectation over the α grid against the α-weighted integral it documents.

The scorer's attribution for one micro-batch is a = θ ⊙ ∇_θ L(αθ) = θ ⊙ α ∇L(αθ) (chain rule),
with α uniform on {1/K, ..., 1}. Enumerating the grid gives E_α[a] exactly, and on the adapter
probe of tests/fidelity_models.py it has a closed form: the gradient at αθ is α² times a term
linear in e(α) = r0 + α³ D, so E_α[a] is the closed form with c_r = mean_k α_k³ and
c_D = mean_k α_k⁶ (a right Riemann sum of ∫ α·α²·e(α) dα). As K grows these tend to 1/4 and
1/7, the α-weighted IG θ ⊙ ∫ α ∇L(αθ) dα.
"""

from __future__ import annotations

import pytest
import torch

from igu_suite.config import ScorerConfig
from scorers.igu_sampled import SampledIGUScorer

from .fidelity_models import make_adapter_probe

ROLES = ("left", "singular_values", "right")


def enumerate_expected_attribution(probe, scorer: SampledIGUScorer, grid_size: int) -> dict[str, torch.Tensor]:
    """Average θ ⊙ ∇θ L over every α of the grid, scaling the adapters the way training does."""
    totals = {role: torch.zeros_like(probe.parameter(role)) for role in ROLES}
    for index in range(1, grid_size + 1):
        alpha = index / grid_size
        scorer.sample_alpha = lambda alpha=alpha: alpha  # visit each grid point once, not at random
        scorer.before_forward(step=1)
        assert probe.layer.path_scale == alpha
        probe.loss().backward()
        probe.adapters.set_path_scale(1.0)  # as the training loop does after each backward
        for role in ROLES:
            parameter = probe.parameter(role)
            totals[role] += parameter.detach() * parameter.grad
            parameter.grad = None
    return {role: total / grid_size for role, total in totals.items()}


@pytest.mark.parametrize("grid_size", [1, 3, 8, 64])
def test_expectation_equals_alpha_weighted_riemann_sum(grid_size):
    probe = make_adapter_probe(seed=5)
    scorer = SampledIGUScorer(probe.adapters, ScorerConfig(name="igu_sampled", alpha_grid_size=grid_size))
    grid = torch.arange(1, grid_size + 1, dtype=torch.float64) / grid_size
    expected = probe.closed_form_attributions(float((grid**3).mean()), float((grid**6).mean()))
    measured = enumerate_expected_attribution(probe, scorer, grid_size)
    for role in ROLES:
        torch.testing.assert_close(measured[role], expected[role], rtol=1e-10, atol=1e-12)


def test_expectation_tends_to_alpha_weighted_integral():
    # Closed form of θ ⊙ ∫ α ∇L(αθ) dα: c_r = ∫ α³ dα = 1/4, c_D = ∫ α⁶ dα = 1/7. The right
    # Riemann sum over K points is off by O(1/K), so the gap shrinks about 8x from K=8 to K=64.
    probe = make_adapter_probe(seed=6)
    integral = probe.closed_form_attributions(1 / 4, 1 / 7)
    gaps = {}
    for grid_size in (8, 64):
        scorer = SampledIGUScorer(probe.adapters, ScorerConfig(name="igu_sampled", alpha_grid_size=grid_size))
        measured = enumerate_expected_attribution(probe, scorer, grid_size)
        gaps[grid_size] = max(
            float((measured[r] - integral[r]).abs().max() / integral[r].abs().max()) for r in ROLES
        )
    print(f"\nigu_sampled relative gap to the α-weighted integral: K=8 {gaps[8]:.3g}, K=64 {gaps[64]:.3g}")
    assert 6 < gaps[8] / gaps[64] < 10


def test_alpha_weighted_integral_is_not_plain_ig():
    # The documented caveat: the α weight changes the attribution, it is not IG up to a factor.
    probe = make_adapter_probe(seed=7)
    weighted = probe.closed_form_attributions(1 / 4, 1 / 7)["left"]
    plain = probe.closed_form_attributions(1 / 3, 1 / 6)["left"]
    ratio = weighted / plain
    assert float(ratio.max() - ratio.min()) > 1e-3


def test_alpha_draws_are_uniform_on_grid():
    probe = make_adapter_probe(seed=8)
    scorer = SampledIGUScorer(probe.adapters, ScorerConfig(name="igu_sampled", alpha_grid_size=4), seed=3)
    draws = torch.tensor([scorer.sample_alpha() for _ in range(4000)])
    for alpha in (0.25, 0.5, 0.75, 1.0):
        count = int((draws == alpha).sum())
        # 4000 draws with p = 1/4: mean 1000, standard deviation 27; 120 is about 4.4 sigma.
        assert abs(count - 1000) < 120, f"α={alpha} drawn {count} times"
