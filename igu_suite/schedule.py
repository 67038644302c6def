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

Two conventions differ in the decreasing phase:

- ``peft`` (default): peft's ``RankAllocator.budget_schedule`` (peft 0.21) and the AdaLoRA
  authors' ``loralib.adalora.RankAllocator.schedule_threshold`` (QingruZhang/AdaLoRA), which
  share one case split. Full budget while step <= t_init; the cubic above with the fraction
  (t - t_init) / (T - t_init - t_final); allocations at multiples of mask_interval with
  t_init < step < T - t_final, and always at step T - t_final; budgets rounded down with
  ``int``. It is the default because it is the code that published AdaLoRA numbers were
  produced with.
- ``paper``: Eq. (12) in Appendix A of the AdaLoRA paper (Zhang et al., ICLR 2023,
  arXiv 2303.10512), taken as printed: b(0) for t < t_init, and for
  t_init <= t < T - t_final

      b(t) = b(T) + (b(0) - b(T)) * (1 - (t - t_init - t_final) / (T - t_init - t_final)) ** 3

  The numerator subtracts t_final as well, unlike the authors' code. So the cubic starts
  above b(0) at t = t_init, and the budget is capped at b(0); it first drops below b(0)
  after step t_init + t_final and reaches b(T) only by a jump at T - t_final. Step t_init
  is already in the decreasing phase, so an allocation there is possible. The paper does
  not say how b(t) is rounded; it is rounded down as in the code.

With the worked example above, 'paper' keeps 216 triplets up to step 150, gives 215 at
step 151 and 73 at step 499, and drops to 72 at step 500.
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
        elapsed = step - self.t_init
        if self.convention == "paper":
            elapsed -= self.t_final  # Eq. (12) as printed; see the module docstring
        fraction = elapsed / (self.total_steps - self.t_final - self.t_init)
        remaining = (1.0 - fraction) ** 3
        budget = int(math.floor(self.target_budget + (self.initial_budget - self.target_budget) * remaining))
        return min(budget, self.initial_budget)

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
