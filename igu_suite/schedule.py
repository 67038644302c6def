"""AdaLoRA's global budget schedule: how many triplets may stay unmasked after each step.

The budget starts at b(0) (every triplet), stays there for t_init steps, falls along a cubic
curve to b(T) and stays at b(T) for the last t_final steps, where the rank pattern is fixed:

    b(t) = b(0)                                                   warm-up
    b(t) = b(T) + (b(0) - b(T)) * (1 - (t - t_init) / (T - t_init - t_final)) ** 3
    b(t) = b(T)                                                   final phase

Worked example (the 'peft' convention): b(0) = 216 triplets (36 modules of rank 6),
b(T) = 72 (average rank 2), T = 600, t_init = 50, t_final = 100, mask_interval = 10.
Steps 1-50 keep all 216. Step 60 is the first allocation: the fraction is 10/450, so
b = int(72 + 144 * (1 - 10/450) ** 3) = int(206.6...) = 206. Step 275 (half-way) gives
int(72 + 144 * 0.125) = 90. Step 500 = T - t_final is the last allocation, at b = 72,
and the pattern then stays fixed until step 600.

Two conventions differ only at the edges of the decreasing phase:

- ``peft`` (default): peft's ``RankAllocator.budget_schedule`` and the AdaLoRA authors'
  ``loralib.adalora.RankAllocator.schedule_threshold``. Full budget while step <= t_init;
  allocations at multiples of mask_interval with t_init < step < T - t_final, and always at
  step T - t_final; budgets are rounded down with ``int``. It is the default because it is
  the code that published AdaLoRA numbers were produced with.
- ``paper``: the case split of the AdaLoRA paper's budget formula, b(0) for t < t_init and the
  cubic for t_init <= t < T - t_final. So step t_init itself is already in the decreasing
  phase (an allocation there is possible), and the budget is rounded down as well.

NOTE: the 'paper' boundaries were written from the paper's case split as quoted in the
project's design notes; the paper text itself could not be opened from this machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import SCHEDULE_CONVENTIONS


@dataclass(frozen=True)
class BudgetSchedule:
    """The budget b(t) and the steps at which masks are recomputed."""

    initial_budget: int
    target_budget: int
    total_steps: int
    t_init: int
    t_final: int
    mask_interval: int
    convention: str = "peft"

    def __post_init__(self) -> None:
        if self.convention not in SCHEDULE_CONVENTIONS:
            raise ValueError(
                f"Unknown schedule convention {self.convention!r}; use one of {SCHEDULE_CONVENTIONS}."
            )
        if not 0 <= self.target_budget <= self.initial_budget:
            raise ValueError(
                f"The target budget ({self.target_budget} triplets) must be between 0 and the "
                f"initial budget ({self.initial_budget}). Lower adapter.target_rank."
            )
        if self.mask_interval < 1:
            raise ValueError(f"mask_interval must be at least 1, got {self.mask_interval}.")
        if self.t_init < 0 or self.t_final < 0:
            raise ValueError(f"t_init and t_final must be 0 or more, got {self.t_init} and {self.t_final}.")
        if self.t_init + self.t_final >= self.total_steps:
            raise ValueError(
                f"The budget schedule does not fit: t_init ({self.t_init}) + t_final "
                f"({self.t_final}) must be smaller than the total of {self.total_steps} optimizer "
                "steps. Lower schedule.t_init or schedule.t_final, or train for more steps."
            )

    @property
    def final_allocation_step(self) -> int:
        """Step T - t_final: the last allocation, at the target budget."""
        return self.total_steps - self.t_final

    def _in_warmup(self, step: int) -> bool:
        if self.convention == "peft":
            return step <= self.t_init
        return step < self.t_init

    def budget(self, step: int) -> int:
        """Return b(step), the number of triplets that may stay unmasked after ``step``."""
        if self._in_warmup(step):
            return self.initial_budget
        if step >= self.final_allocation_step:
            return self.target_budget
        fraction = (step - self.t_init) / (self.total_steps - self.t_final - self.t_init)
        remaining = (1.0 - fraction) ** 3
        return int(math.floor(self.target_budget + (self.initial_budget - self.target_budget) * remaining))

    def is_allocation_step(self, step: int) -> bool:
        """Return whether masks are recomputed after ``step``."""
        if self._in_warmup(step) or step > self.final_allocation_step:
            return False
        if step == self.final_allocation_step:
            return True
        return step % self.mask_interval == 0

    def needs_scores(self, step: int) -> bool:
        """Return whether scores are still updated at ``step``.

        As in peft and the authors' code, scores stop updating at T - t_final: the final
        allocation uses the scores gathered up to the step before.
        """
        return step < self.final_allocation_step
