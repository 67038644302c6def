"""Budget schedule: boundaries, the worked example and invalid settings."""

import pytest

from igu_suite.schedule import BudgetSchedule


def make_schedule(**overrides) -> BudgetSchedule:
    values = dict(initial_budget=216, target_budget=72, total_steps=600, t_init=50, t_final=100, mask_interval=10)
    values.update(overrides)
    return BudgetSchedule(**values)


def test_worked_example_values():
    schedule = make_schedule()
    # Computed by hand: int(72 + 144 * (1 - 10/450) ** 3) and int(72 + 144 * 0.5 ** 3).
    assert schedule.budget(60) == 206
    assert schedule.budget(275) == 90


@pytest.mark.parametrize(
    "step, expected",
    [(1, 216), (50, 216), (500, 72), (501, 72), (600, 72)],
)
def test_peft_convention_boundaries(step, expected):
    assert make_schedule().budget(step) == expected


def test_decrease_starts_after_t_init():
    schedule = make_schedule()
    assert schedule.budget(51) < 216


def test_budget_never_increases():
    schedule = make_schedule()
    budgets = [schedule.budget(step) for step in range(1, 601)]
    assert all(later <= earlier for earlier, later in zip(budgets, budgets[1:]))


def test_allocation_steps_peft_convention():
    schedule = make_schedule()
    steps = [step for step in range(1, 601) if schedule.is_allocation_step(step)]
    assert steps[0] == 60
    assert steps[-1] == 500
    assert 50 not in steps
    assert all(step % 10 == 0 for step in steps)


def test_final_allocation_even_off_interval():
    schedule = make_schedule(t_final=95)  # T - t_final = 505 is not a multiple of 10
    assert schedule.is_allocation_step(505)
    assert not schedule.is_allocation_step(510)


def test_scores_stop_at_final_allocation():
    schedule = make_schedule()
    assert schedule.needs_scores(499)
    assert not schedule.needs_scores(500)


def test_paper_convention_starts_at_t_init():
    schedule = make_schedule(convention="paper")
    assert schedule.budget(49) == 216
    assert schedule.is_allocation_step(50)
    assert not make_schedule().is_allocation_step(50)


def test_schedule_must_fit_total_steps():
    with pytest.raises(ValueError, match=r"t_init \(300\) \+ t_final \(300\)") as error:
        make_schedule(t_init=300, t_final=300)
    assert "600" in str(error.value)


def test_target_above_initial_is_rejected():
    with pytest.raises(ValueError, match="target budget"):
        make_schedule(target_budget=300)


def test_equal_budgets_keep_everything():
    schedule = make_schedule(target_budget=216)
    assert all(schedule.budget(step) == 216 for step in range(1, 601))
