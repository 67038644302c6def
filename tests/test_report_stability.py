"""Stability analyses on hand-made rank-pattern and mask histories."""

import math

import pandas as pd
import pytest

from reports.stability import (
    allocation_changes,
    rank_variation,
    seed_pair_agreement,
    settling_steps,
    top_budget_modules,
)

MODULES = ["m0", "m1", "m2", "m3"]


def pattern(seed, ranks_by_step, scorer="ig"):
    rows = []
    for step, ranks in ranks_by_step.items():
        for index, (module, rank) in enumerate(zip(MODULES, ranks)):
            rows.append({"run": f"{scorer}-seed{seed}", "task": "sst2", "scorer": scorer, "seed": seed, "step": step,
                         "module": module, "layer": index // 2, "module_type": f"type{index % 2}", "rank": rank})
    return rows


def test_identical_seeds_agree_fully():
    table = pd.DataFrame(pattern(0, {0: [4, 4, 4, 4], 10: [1, 2, 3, 4]}) + pattern(1, {0: [4, 4, 4, 4], 10: [1, 2, 3, 4]}))
    pair = seed_pair_agreement(table).iloc[0]
    assert pair["spearman"] == pytest.approx(1.0)
    assert pair["kendall"] == pytest.approx(1.0)
    assert pair["top_modules_jaccard"] == 1.0
    variation = rank_variation(table)
    assert (variation["cv"] == 0.0).all()


def test_reversed_seeds_disagree():
    table = pd.DataFrame(pattern(0, {10: [1, 2, 3, 4]}) + pattern(1, {10: [4, 3, 2, 1]}))
    pair = seed_pair_agreement(table).iloc[0]
    assert pair["spearman"] == pytest.approx(-1.0)
    assert pair["kendall"] == pytest.approx(-1.0)
    # Half of 10 triplets: {m3, m2} (4 + 3 = 7) against {m0, m1}; no module in common.
    assert pair["top_modules_jaccard"] == 0.0


def test_coefficient_of_variation_by_hand():
    table = pd.DataFrame(pattern(0, {10: [2, 0, 3, 3]}) + pattern(1, {10: [4, 0, 3, 1]}))
    variation = rank_variation(table).set_index("module")
    # m0: ranks 2 and 4, mean 3, sample std sqrt(2), CV sqrt(2) / 3.
    assert variation.loc["m0", "cv"] == pytest.approx(math.sqrt(2) / 3)
    assert variation.loc["m1", "cv"] == 0.0  # pruned in both seeds: no variation
    assert variation.loc["m3", "mean_rank"] == 2.0


def test_top_budget_modules_includes_ties():
    ranks = pd.Series({"a": 3, "b": 2, "c": 2, "d": 1})
    # Half of 8 is 4: a (3) is not enough, b reaches 5; c ties with b and is included.
    assert top_budget_modules(ranks, 0.5) == {"a", "b", "c"}
    assert top_budget_modules(pd.Series({"a": 0, "b": 0}), 0.5) == set()


def masks(seed, kept_by_step, scores_by_step):
    rows = []
    for step, kept in kept_by_step.items():
        for index, (flag, score) in enumerate(zip(kept, scores_by_step[step])):
            rows.append({"run": f"ig-seed{seed}", "task": "sst2", "scorer": "ig", "seed": seed, "step": step,
                         "module": MODULES[index // 2], "triplet": index % 2, "score": score, "kept": flag})
    return pd.DataFrame(rows)


def test_one_flip_gives_its_fraction():
    history = masks(0, {10: [1, 1, 1, 1], 20: [1, 1, 1, 0]}, {10: [4, 3, 2, 1], 20: [4, 3, 2, 1]})
    change = allocation_changes(history).iloc[0]
    assert change["flips"] == 1
    assert change["flip_fraction"] == 0.25  # 1 of 4 triplets
    assert change["forced_flips"] == 1  # the budget fell by one
    assert change["excess_flip_fraction"] == 0.0
    assert change["score_kendall"] == pytest.approx(1.0)


def test_swap_counts_as_excess_flips():
    history = masks(0, {10: [1, 1, 0, 0], 20: [1, 0, 1, 0]}, {10: [4, 3, 2, 1], 20: [4, 2, 3, 1]})
    change = allocation_changes(history).iloc[0]
    assert change["flips"] == 2
    assert change["forced_flips"] == 0
    assert change["excess_flip_fraction"] == 0.5
    # One discordant pair of six: τ = (5 - 1) / 6.
    assert change["score_kendall"] == pytest.approx(4 / 6)


def test_settling_step_is_last_change():
    table = pd.DataFrame(pattern(0, {0: [4, 4, 4, 4], 10: [3, 3, 4, 4], 20: [1, 3, 4, 2], 30: [1, 3, 4, 2],
                                     40: [1, 3, 4, 2]}))
    row = settling_steps(table).iloc[0]
    assert row["settling_step"] == 20
    assert row["final_allocation_step"] == 40
    assert row["allocations"] == 4


def test_single_seed_has_no_pairs():
    table = pd.DataFrame(pattern(0, {10: [1, 2, 3, 4]}))
    assert seed_pair_agreement(table).empty
    assert rank_variation(table)["cv"].isna().all()
