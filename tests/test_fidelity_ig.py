"""Integrated gradients in parameter space against closed forms.

Three references. First, a loss linear in the parameters: the gradient is the same at every
path point, so every quadrature must meet completeness. Second, losses that are polynomials of
known degree along the path: the error of each quadrature rule has a known order in N. Third,
one real SVD adapter with a squared-error loss: IG of every entry of P, λ and Q has a closed
form, derived in tests/fidelity_models.py.

Run with ``-s`` to print the measured errors and slopes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from igu_suite.config import ScorerConfig
from scorers.ig import QUADRATURE_METHODS, IntegratedGradientsScorer, integrated_gradients, validate_quadrature

from .fidelity_models import make_adapter_probe

SMALL_AND_LARGE_N = [1, 2, 3, 5, 10, 32]
CONVERGENCE_N = [8, 16, 32, 64]
# Composite rules on a smooth integrand: error O(h) for left and right sums, O(h²) for the
# midpoint and trapezoid rules.
EXPECTED_ORDERS = {"riemann_left": 1.0, "riemann_right": 1.0, "riemann_middle": 2.0, "riemann_trapezoid": 2.0}


def accepted(method: str, n_steps: int) -> bool:
    try:
        validate_quadrature(method, n_steps)
    except ValueError:
        return False
    return True


def random_tensors(seed: int, positive: bool = False) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shapes = {"left": (6, 3), "singular_values": (3, 1), "right": (3, 7)}
    tensors = {}
    for name, shape in shapes.items():
        values = torch.rand(shape, generator=generator, dtype=torch.float64)
        tensors[name] = values + 0.5 if positive else 2 * values - 1
    return tensors


def polynomial_loss(coefficients: dict[str, torch.Tensor], degree: int):
    """L(θ) = Σ_j c_j θ_j^degree, so L(αθ) = α^degree L(θ) and L(0) = 0."""

    def loss(parameters: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum((coefficients[name] * parameters[name] ** degree).sum() for name in coefficients)

    return loss


def relative_completeness_gap(loss, values: dict[str, torch.Tensor], n_steps: int, method: str) -> float:
    names = list(values)
    attributions = integrated_gradients(loss, names, [values[n] for n in names], n_steps, method)
    total = sum(float(a.double().sum()) for a in attributions)
    zeros = {name: torch.zeros_like(value) for name, value in values.items()}
    delta = float(loss(values)) - float(loss(zeros))
    return abs(total - delta) / abs(delta)


# Every (method, N) that the ig scorer accepts; the rejected ones are in test_rejected_point_counts.
ACCEPTED_CASES = [(m, n) for m in QUADRATURE_METHODS for n in SMALL_AND_LARGE_N if accepted(m, n)]


@pytest.mark.parametrize("method, n_steps", ACCEPTED_CASES)
def test_completeness_on_linear_loss(method, n_steps):
    # Reference: for L(θ) = c·θ the gradient is c at every path point, so IG_j = θ_j c_j and
    # Σ IG = L(θ) − L(0) exactly for any rule whose weights sum to 1.
    loss = polynomial_loss(random_tensors(1), degree=1)
    gap = relative_completeness_gap(loss, random_tensors(2), n_steps, method)
    print(f"\ncompleteness, linear loss, {method} N={n_steps}: relative gap {gap:.2g}")
    assert gap <= 1e-5


@pytest.mark.parametrize("method", QUADRATURE_METHODS)
@pytest.mark.parametrize("n_steps", [2, 3, 5, 10])
def test_completeness_on_linear_adapter_path(method, n_steps):
    # Reference: a real adapter layer whose output is linear in λ once P and Q are fixed. Only
    # λ moves along the path, so the loss Σ y is linear in the path position.
    probe = make_adapter_probe(seed=3)
    name = probe.adapters.modules[0].parameter_names["singular_values"]
    singular_values = probe.parameter("singular_values")

    def output_sum(overrides):
        return probe.model(probe.inputs).sum() if not overrides else torch.func.functional_call(
            probe.model, overrides, (probe.inputs,), strict=False).sum()

    (attribution,) = integrated_gradients(output_sum, [name], [singular_values], n_steps, method)
    with torch.no_grad():
        delta = float(output_sum(None)) - float(output_sum({name: torch.zeros_like(singular_values)}))
    gap = abs(float(attribution.double().sum()) - delta) / abs(delta)
    print(f"\ncompleteness, adapter λ path, {method} N={n_steps}: relative gap {gap:.2g}")
    assert gap <= 1e-5


@pytest.mark.parametrize(
    "method, n_steps",
    [("riemann_left", 1), ("riemann_right", 1), ("riemann_middle", 1), ("riemann_trapezoid", 1),
     ("gausslegendre", 0), ("simpson", 8)],
)
def test_rejected_point_counts(method, n_steps):
    with pytest.raises(ValueError, match=method):
        validate_quadrature(method, n_steps)


@pytest.mark.parametrize("n_steps", [2, 3, 5, 10, 50])
def test_captum_trapezoid_weights_sum_short(n_steps):
    # Reference: captum's own riemann_trapezoid builders. The composite trapezoid rule on N
    # points has spacing h = 1/(N-1) and weights h/2, h, ..., h, h/2 (sum 1); captum uses 1/N in
    # place of h, so its weights sum to (N-1)/N and integrated_gradients rescales by N/(N-1).
    step_sizes, alphas = approximation_parameters("riemann_trapezoid")
    weights = np.array(step_sizes(n_steps))
    assert weights.sum() == pytest.approx((n_steps - 1) / n_steps, abs=1e-12)
    spacing = 1.0 / (n_steps - 1)
    composite = np.full(n_steps, spacing)
    composite[[0, -1]] = spacing / 2
    np.testing.assert_allclose(weights * n_steps / (n_steps - 1), composite, rtol=1e-12)
    np.testing.assert_allclose(alphas(n_steps), np.linspace(0, 1, n_steps), atol=1e-7)


def convergence_errors(method: str, degree: int) -> list[float]:
    values = random_tensors(5, positive=True)  # positive terms: no cancellation in ΔL
    loss = polynomial_loss(random_tensors(6, positive=True), degree)
    return [relative_completeness_gap(loss, values, n, method) for n in CONVERGENCE_N]


def fitted_order(method: str, errors: list[float]) -> float:
    """Return p in error ∝ h^p, fitted on log-log axes; h = 1/N, or 1/(N-1) for the trapezoid."""
    points = np.array(CONVERGENCE_N, dtype=float)
    spacing = 1.0 / (points - 1) if method == "riemann_trapezoid" else 1.0 / points
    order, _ = np.polyfit(np.log(spacing), np.log(errors), 1)
    return float(order)


@pytest.mark.parametrize("degree", [3, 4])
@pytest.mark.parametrize("method", sorted(EXPECTED_ORDERS))
def test_convergence_order_on_polynomial_path(method, degree):
    # Reference: L(αθ) = α^degree L(θ), so the integrand of Σ IG is degree·α^(degree-1)·L(θ)
    # and the quadrature error has the order of the composite rule (EXPECTED_ORDERS).
    errors = convergence_errors(method, degree)
    order = fitted_order(method, errors)
    slope_in_n = float(np.polyfit(np.log(CONVERGENCE_N), np.log(errors), 1)[0])
    print(f"\n{method} degree {degree}: relative errors {['%.3g' % e for e in errors]} at N={CONVERGENCE_N}, "
          f"order in h {order:.3f}, slope in N {slope_in_n:.3f}")
    assert order == pytest.approx(EXPECTED_ORDERS[method], abs=0.1)


@pytest.mark.parametrize("degree", [3, 4, 8])
def test_gauss_legendre_exact_from_degree(degree):
    # Reference: N-point Gauss-Legendre integrates polynomials up to degree 2N-1 exactly. The
    # integrand has degree (degree - 1), so N >= degree / 2 points are exact and fewer are not.
    values = random_tensors(7, positive=True)
    loss = polynomial_loss(random_tensors(8, positive=True), degree)
    exact_from = math.ceil(degree / 2)
    gaps = {n: relative_completeness_gap(loss, values, n, "gausslegendre") for n in range(1, exact_from + 3)}
    print(f"\ngausslegendre degree {degree}: gaps {({n: float('%.2g' % g) for n, g in gaps.items()})}")
    for n_steps, gap in gaps.items():
        if n_steps >= exact_from:
            assert gap <= 1e-6, f"N={n_steps}"
        else:
            assert gap > 1e-3, f"N={n_steps}"


def scorer_attributions(probe, method: str, n_steps: int) -> dict[str, torch.Tensor]:
    scorer = IntegratedGradientsScorer(probe.adapters, ScorerConfig(name="ig", n_steps=n_steps, method=method))
    attributions = scorer.compute_attributions(probe.loss)
    return {role: attributions[(probe.adapters.modules[0].name, role)].double() for role in ("left", "singular_values", "right")}


@pytest.mark.parametrize("n_steps", [3, 4, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_ig_matches_closed_form_on_adapter(seed, n_steps):
    # Reference: the closed form in tests/fidelity_models.py with w(α) = 1 (c_r = 1/3, c_D = 1/6).
    # The loss is of degree 6 along the path, so Gauss-Legendre is exact from N = 3.
    probe = make_adapter_probe(seed)
    expected = probe.closed_form_attributions(1 / 3, 1 / 6)
    measured = scorer_attributions(probe, "gausslegendre", n_steps)
    for role, value in expected.items():
        torch.testing.assert_close(measured[role], value, rtol=1e-5, atol=1e-5 * float(value.abs().max()))
    worst = max(float((measured[r] - v).abs().max() / v.abs().max()) for r, v in expected.items())
    print(f"\nclosed-form IG, seed {seed}, N={n_steps}: max error / max |IG| = {worst:.2g}")
    total = sum(float(v.sum()) for v in expected.values())
    zeros = {name: torch.zeros_like(p) for m in probe.adapters for name, p in
             ((m.parameter_names[r], m.parameter(r)) for r in ("left", "singular_values", "right"))}
    with torch.no_grad():
        delta = float(probe.loss()) - float(probe.loss(zeros))
    assert total == pytest.approx(delta, rel=1e-10)


def test_ig_scorer_triplet_scores_match_closed_form():
    # Reference: S_i = |IG(λ_i)| + mean_j |IG(Q_ij)| + mean_j |IG(P_ji)|, summed by hand here.
    probe = make_adapter_probe(seed=4)
    expected = {role: value.abs() for role, value in probe.closed_form_attributions(1 / 3, 1 / 6).items()}
    by_hand = expected["singular_values"].view(-1) + expected["right"].mean(dim=1) + expected["left"].mean(dim=0)
    scorer = IntegratedGradientsScorer(probe.adapters, ScorerConfig(name="ig", n_steps=4, method="gausslegendre"))
    scorer.observe(1, probe.loss)
    measured = scorer.triplet_scores()[probe.adapters.modules[0].name]
    assert measured.dtype == torch.float32
    torch.testing.assert_close(measured.double(), by_hand, rtol=1e-5, atol=0.0)


def test_too_few_gauss_legendre_points_miss_closed_form():
    # The check above can fail: with N = 2 the rule is exact only up to degree 3, not 5.
    probe = make_adapter_probe(seed=0)
    expected = probe.closed_form_attributions(1 / 3, 1 / 6)["left"]
    measured = scorer_attributions(probe, "gausslegendre", 2)["left"]
    assert float((measured - expected).abs().max()) > 1e-3 * float(expected.abs().max())
