"""Each budget-schedule convention against its source, at every step of several schedules.

'peft' is compared with the real ``RankAllocator.budget_schedule`` of the installed peft (the
AdaLoRA authors' ``schedule_threshold`` has the same case split). 'paper' is compared with
Eq. (12) of the AdaLoRA paper (Zhang et al., ICLR 2023, arXiv 2303.10512, Appendix A),
written out below from the printed equation.
"""

from __future__ import annotations

import math

import pytest
from peft import AdaLoraConfig, get_peft_model

from igu_suite.adapters import resolve_target_modules
from igu_suite.schedule import BudgetSchedule

from .conftest import tiny_bert

TINY_BERT_MODULES = 2 * 6  # query, key, value, attention output, intermediate, output per block

# (T, t_init, t_final, ΔT, init rank, target rank); tiny BERT has 12 adapted modules.
SCHEDULES = [
    (600, 50, 100, 10, 6, 2),
    (120, 0, 0, 7, 4, 1),
    (97, 13, 20, 5, 3, 2),
    (40, 10, 10, 1, 2, 0),
    (30, 5, 9, 4, 5, 5),
]


def peft_rank_allocator(total_steps, t_init, t_final, interval, init_rank, target_rank):
    model = tiny_bert()
    config = AdaLoraConfig(init_r=init_rank, target_r=target_rank, total_step=total_steps, tinit=t_init,
                           tfinal=t_final, deltaT=interval, target_modules=resolve_target_modules(model, None))
    return get_peft_model(model, config).base_model.rankallocator


def make_schedule(convention, total_steps, t_init, t_final, interval, init_rank, target_rank) -> BudgetSchedule:
    return BudgetSchedule(
        initial_budget=init_rank * TINY_BERT_MODULES,
        target_budget=target_rank * TINY_BERT_MODULES,
        total_steps=total_steps,
        t_init=t_init,
        t_final=t_final,
        mask_interval=interval,
        convention=convention,
    )


@pytest.mark.parametrize("total_steps, t_init, t_final, interval, init_rank, target_rank", SCHEDULES)
def test_peft_convention_matches_peft(total_steps, t_init, t_final, interval, init_rank, target_rank):
    reference = peft_rank_allocator(total_steps, t_init, t_final, interval, init_rank, target_rank)
    schedule = make_schedule("peft", total_steps, t_init, t_final, interval, init_rank, target_rank)
    assert reference.init_bgt == schedule.initial_budget
    final = total_steps - t_final
    for step in range(1, total_steps + 1):
        budget, mask_now = reference.budget_schedule(step)
        assert schedule.budget(step) == budget, f"budget at step {step}"
        # peft's update_and_allocate masks where budget_schedule returns mask_ind before
        # T - t_final, always at T - t_final (force_mask), and afterwards replays the pattern.
        expected_allocation = (mask_now and step < final) or step == final
        assert schedule.is_allocation_step(step) == expected_allocation, f"allocation at step {step}"
        # update_ipt runs only while step < T - t_final.
        assert schedule.needs_scores(step) == (step < final), f"scores at step {step}"


def paper_equation_12(step, initial, target, total_steps, t_init, t_final) -> float:
    """b(t) of the AdaLoRA paper, Appendix A, Eq. (12), as printed (a real number)."""
    if step < t_init:
        return initial
    if step < total_steps - t_final:
        return target + (initial - target) * (1 - (step - t_init - t_final) / (total_steps - t_init - t_final)) ** 3
    return target


@pytest.mark.parametrize("total_steps, t_init, t_final, interval, init_rank, target_rank", SCHEDULES)
def test_paper_convention_matches_equation_12(total_steps, t_init, t_final, interval, init_rank, target_rank):
    schedule = make_schedule("paper", total_steps, t_init, t_final, interval, init_rank, target_rank)
    initial, target = schedule.initial_budget, schedule.target_budget
    for step in range(1, total_steps + 1):
        exact = paper_equation_12(step, initial, target, total_steps, t_init, t_final)
        # Rounded down, and never above the number of triplets that exist.
        assert schedule.budget(step) == min(initial, math.floor(exact)), f"budget at step {step}"
        in_decrease = t_init <= step < total_steps - t_final
        expected_allocation = (in_decrease and step % interval == 0) or step == total_steps - t_final
        assert schedule.is_allocation_step(step) == expected_allocation, f"allocation at step {step}"


@pytest.mark.parametrize(
    "step, expected",
    # Computed by hand from Eq. (12) with b(0)=216, b(T)=72, T=600, t_i=50, t_f=100:
    # t=50: 72 + 144·(11/9)³ = 334.9 → capped at 216; t=151: 72 + 144·(449/450)³ = 215.04;
    # t=499: 72 + 144·(101/450)³ = 73.63; t >= 500: b(T).
    [(49, 216), (50, 216), (150, 216), (151, 215), (499, 73), (500, 72), (600, 72)],
)
def test_paper_convention_worked_example(step, expected):
    schedule = BudgetSchedule(216, 72, 600, 50, 100, 10, convention="paper")
    assert schedule.budget(step) == expected


@pytest.mark.parametrize(
    "step, peft_budget, paper_budget",
    # The two conventions on the same settings: peft starts decreasing at t_init + 1, the
    # printed equation only after t_init + t_final.
    [(50, 216, 216), (51, 215, 216), (151, 139, 215), (499, 72, 73), (500, 72, 72)],
)
def test_conventions_differ_where_sources_differ(step, peft_budget, paper_budget):
    assert BudgetSchedule(216, 72, 600, 50, 100, 10, convention="peft").budget(step) == peft_budget
    assert BudgetSchedule(216, 72, 600, 50, 100, 10, convention="paper").budget(step) == paper_budget
