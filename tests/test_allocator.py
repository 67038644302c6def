"""Top-b triplet selection: budgets, ties and bad scores."""

import pytest
import torch

from igu_suite.allocator import top_budget_masks


def random_scores(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {f"module{i}": torch.rand(6, generator=generator) for i in range(5)}


@pytest.mark.parametrize("budget", [0, 1, 7, 15, 29, 30])
def test_masks_sum_to_budget(budget):
    masks = top_budget_masks(random_scores(), budget)
    assert sum(int(mask.sum()) for mask in masks.values()) == budget


def test_keeps_the_highest_scores():
    scores = random_scores()
    masks = top_budget_masks(scores, 10)
    kept = torch.cat([scores[n][masks[n]] for n in scores])
    dropped = torch.cat([scores[n][~masks[n]] for n in scores])
    assert kept.min() > dropped.max()


def test_ties_never_prune_below_budget():
    scores = {"a": torch.zeros(6), "b": torch.zeros(6)}
    masks = top_budget_masks(scores, 5)
    assert int(masks["a"].sum()) + int(masks["b"].sum()) == 5
    # Stable order: among equal scores the lower global index is kept.
    assert masks["a"].tolist() == [True] * 5 + [False]


def test_full_budget_masks_nothing():
    masks = top_budget_masks(random_scores(), 30)
    assert all(bool(mask.all()) for mask in masks.values())


def test_non_finite_score_is_rejected():
    scores = random_scores()
    scores["module3"][2] = float("nan")
    with pytest.raises(ValueError, match="module3"):
        top_budget_masks(scores, 10)
