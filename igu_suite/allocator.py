"""The rank allocator: keep the top-b(t) triplets over all adapted modules.

At each allocation step the allocator takes one score per triplet from the scorer, keeps the
b(t) highest across every module, writes the masks and records the rank pattern (rank per
module) and the scores, which the reports read later.

Ties never prune below the budget: triplets are sorted by score (descending) with a stable
sort, so among equal scores the one with the lower global index (module order, then
triplet index) is kept, and exactly b(t) triplets stay. peft's RankAllocator instead masks
every score <= the k-th smallest, which prunes all tied triplets at the threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from .adapters import SVDAdapters
from .schedule import BudgetSchedule

logger = logging.getLogger(__name__)


@dataclass
class Allocation:
    """One allocation step: the budget, the resulting ranks, masks and the scores used."""

    step: int
    budget: int
    ranks: dict[str, int]
    masks: dict[str, torch.Tensor]
    scores: dict[str, torch.Tensor] | None


def top_budget_masks(scores: dict[str, torch.Tensor], budget: int) -> dict[str, torch.Tensor]:
    """Return bool masks that keep the ``budget`` highest-scoring triplets over all modules.

    ``scores`` maps module names (in a fixed order) to fp32 tensors of shape (r,). Raises
    ValueError for a non-finite score, naming the module.
    """
    names = list(scores)
    flat = torch.cat([scores[name].detach().float().cpu().view(-1) for name in names])  # (total,)
    for name in names:
        if not torch.isfinite(scores[name]).all():
            raise ValueError(f"The scorer returned a non-finite triplet score for module {name}.")
    if not 0 <= budget <= flat.numel():
        raise ValueError(f"Budget {budget} is outside [0, {flat.numel()}] triplets.")
    order = torch.argsort(flat, descending=True, stable=True)
    kept = torch.zeros(flat.numel(), dtype=torch.bool)
    kept[order[:budget]] = True
    masks = {}
    offset = 0
    for name in names:
        size = scores[name].numel()
        masks[name] = kept[offset : offset + size].clone()
        offset += size
    return masks


@dataclass
class RankAllocator:
    """Applies the budget schedule to the adapters and keeps the allocation history."""

    adapters: SVDAdapters
    schedule: BudgetSchedule
    history: list[Allocation] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.schedule.initial_budget != self.adapters.initial_budget:
            raise ValueError(
                f"The schedule's initial budget ({self.schedule.initial_budget}) differs from the "
                f"adapters' {self.adapters.initial_budget} triplets."
            )
        # Step 0: every triplet kept, so reports can draw the pattern from the start.
        self.history.append(Allocation(0, self.adapters.initial_budget, self.adapters.ranks(), self.adapters.masks(), None))

    def update(self, step: int, scorer_scores) -> Allocation | None:
        """Run the allocation due after ``step``, if any, and return it.

        ``scorer_scores`` is a callable returning the scorer's triplet scores; it is called
        only at allocation steps. After the final allocation the pattern stays fixed, and
        in 'peft' mask mode the zeroed λ are zeroed again every step.
        """
        if self.schedule.is_allocation_step(step):
            budget = self.schedule.budget(step)
            scores = scorer_scores()
            missing = [m.name for m in self.adapters if m.name not in scores]
            if missing:
                raise ValueError(f"The scorer returned no scores for module(s) {', '.join(missing)}.")
            masks = top_budget_masks({m.name: scores[m.name] for m in self.adapters}, budget)
            self.adapters.set_masks(masks)
            allocation = Allocation(step, budget, self.adapters.ranks(), masks, {k: v.clone() for k, v in scores.items()})
            self.history.append(allocation)
            logger.debug("Step %d: budget %d, ranks %s", step, budget, allocation.ranks)
            return allocation
        if step > self.schedule.final_allocation_step and self.adapters.mask_mode == "peft":
            self.adapters.enforce_masks()
        return None

    def current_budget(self, step: int) -> int:
        return self.schedule.budget(step)
