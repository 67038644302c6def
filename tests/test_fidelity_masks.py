"""Mask semantics against the closed form of the masked layer y = W0 x + b + s Σ_{i kept} λ_i P_·i (Q_i· x)."""

from __future__ import annotations

import pytest
import torch

from igu_suite.adapters import attach_adapters
from igu_suite.allocator import RankAllocator
from igu_suite.config import AdapterConfig
from igu_suite.schedule import BudgetSchedule

from .conftest import tiny_bert
from .fidelity_models import make_adapter_probe

MASK_PATTERNS = [[True, True, True], [True, False, True], [False, False, True], [False, False, False]]


def closed_form_output(probe, kept: torch.Tensor, singular_values: torch.Tensor) -> torch.Tensor:
    terms = probe.path_terms()
    weighted = terms["projected"] * (singular_values.view(1, -1) * kept.view(1, -1))  # (BATCH, RANK)
    base = probe.inputs @ probe.layer.base_layer.weight.detach().T + probe.layer.base_layer.bias.detach()
    return base + terms["scale"] * weighted @ terms["left"].T


@pytest.mark.parametrize("mask_mode", ["hard", "peft"])
@pytest.mark.parametrize("pattern", MASK_PATTERNS)
def test_masked_layer_output_matches_closed_form(mask_mode, pattern):
    probe = make_adapter_probe(seed=10, mask_mode=mask_mode)
    singular_values = probe.parameter("singular_values").detach().clone()
    kept = torch.tensor(pattern)
    probe.adapters.set_masks({probe.adapters.modules[0].name: kept})
    with torch.no_grad():
        measured = probe.model(probe.inputs)
    torch.testing.assert_close(measured, closed_form_output(probe, kept.double(), singular_values), rtol=1e-12, atol=1e-12)


def test_masked_triplet_adds_exactly_nothing():
    # A masked triplet and a triplet with λ_i = 0 give bit-identical outputs, whatever P_·i and Q_i·.
    probe = make_adapter_probe(seed=11)
    name = probe.adapters.modules[0].name
    probe.adapters.set_masks({name: torch.tensor([True, False, True])})
    with torch.no_grad():
        masked = probe.model(probe.inputs)
        probe.adapters.set_masks({name: torch.tensor([True, True, True])})
        probe.parameter("singular_values")[1] = 0.0
        zeroed = probe.model(probe.inputs)
    assert torch.equal(masked, zeroed)


def test_hard_mask_blocks_gradient_of_masked_triplet():
    # Reference: ∂L/∂λ_i = s Σ_n (Pᵀ e_n)_i u_n,i for a kept triplet (e_n the residual), and
    # exactly 0 for a masked one, as are the task-loss gradients of P_·i and Q_i·.
    probe = make_adapter_probe(seed=12)
    kept = torch.tensor([True, False, True])
    probe.adapters.set_masks({probe.adapters.modules[0].name: kept})
    probe.loss().backward()
    terms = probe.path_terms()
    residual = closed_form_output(probe, kept.double(), terms["singular_values"]) - probe.target
    expected = terms["scale"] * ((residual @ terms["left"]) * terms["projected"]).sum(0)  # (RANK,)
    gradient = probe.parameter("singular_values").grad.view(-1)
    assert gradient[1] == 0.0
    torch.testing.assert_close(gradient[kept], expected[kept], rtol=1e-12, atol=1e-12)
    assert bool((probe.parameter("left").grad[:, 1] == 0).all())
    assert bool((probe.parameter("right").grad[1, :] == 0).all())


def test_peft_mask_mode_lets_zeroed_triplet_regrow():
    # 'peft' mask mode zeroes λ_i in place, as peft's RankAllocator does. The gradient on λ_i is
    # not blocked, so the optimizer may move it between allocations (AdapterConfig.mask_mode).
    probe = make_adapter_probe(seed=13, mask_mode="peft")
    probe.adapters.set_masks({probe.adapters.modules[0].name: torch.tensor([True, False, True])})
    assert probe.parameter("singular_values")[1].item() == 0.0
    probe.loss().backward()
    assert probe.parameter("singular_values").grad[1].item() != 0.0


@pytest.mark.parametrize("mask_mode", ["hard", "peft"])
@pytest.mark.parametrize("budget", [48, 31, 12, 0])
def test_effective_rank_counts_unmasked_triplets(mask_mode, budget):
    _, adapters = attach_adapters(tiny_bert(), AdapterConfig(init_rank=4, target_rank=1, mask_mode=mask_mode,
                                                             singular_value_init=0.3),
                                  total_steps=20, task_type="SEQ_CLS")
    schedule = BudgetSchedule(adapters.initial_budget, budget, total_steps=20, t_init=0, t_final=10, mask_interval=5)
    allocator = RankAllocator(adapters, schedule)
    generator = torch.Generator().manual_seed(budget)
    scores = {m.name: torch.rand(m.rank, generator=generator) for m in adapters}
    allocation = allocator.update(schedule.final_allocation_step, lambda: scores)

    kept_counts = {name: int(mask.sum()) for name, mask in allocation.masks.items()}
    assert adapters.ranks() == kept_counts
    assert allocation.ranks == kept_counts
    assert sum(kept_counts.values()) == budget
    assert all(module.rank == 4 for module in adapters)  # tensors keep their shape
    widths = {m.name: m.parameter("left").shape[0] + m.parameter("right").shape[1] + 1 for m in adapters}
    assert adapters.adapter_parameter_count() == sum(kept_counts[n] * widths[n] for n in widths)

    # Moving a pruned λ away from 0 (as AdamW can in 'peft' mode) does not change the rank.
    with torch.no_grad():
        for module in adapters:
            module.parameter("singular_values").add_(1.0)
    assert adapters.ranks() == kept_counts
