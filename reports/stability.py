"""Stability of the rank decisions, across seeds and over the allocation steps of one run.

Across seeds, triplets are not aligned (triplet 3 of a module in one seed has nothing to do
with triplet 3 in another), so the comparison uses the per-module rank vectors of the
final rank pattern. Within a run, triplets are aligned by (module, triplet), so the mask
and the score ranking are compared between consecutive allocation steps.

Inputs are the tables of :mod:`reports.load`: ``rank_patterns`` (run, task, scorer, seed,
step, module, layer, module_type, rank) and ``triplet_scores`` (run, task, scorer, seed,
step, module, triplet, score, kept).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

PAIR_COLUMNS = ["task", "scorer", "seed_a", "seed_b", "modules", "spearman", "kendall", "top_modules_jaccard"]
CV_COLUMNS = ["task", "scorer", "module", "layer", "module_type", "seeds", "mean_rank", "std_rank", "cv"]
STEP_COLUMNS = [
    "run", "task", "scorer", "seed", "step", "previous_step", "triplets", "flips", "forced_flips",
    "flip_fraction", "excess_flip_fraction", "score_kendall",
]
SETTLING_COLUMNS = ["run", "task", "scorer", "seed", "settling_step", "final_allocation_step", "allocations"]


def final_rank_patterns(rank_patterns: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of each run's last recorded step: its final rank per module."""
    if rank_patterns.empty:
        return rank_patterns
    last = rank_patterns.groupby("run")["step"].transform("max")
    return rank_patterns[rank_patterns["step"] == last].reset_index(drop=True)


def top_budget_modules(ranks: pd.Series, share: float = 0.5) -> set:
    """Return the modules with the highest ranks that hold at least ``share`` of the budget.

    Modules are taken in order of decreasing rank until their ranks add up to ``share`` of
    the total. Every module tied with the last one taken is included, so the set does not
    depend on the order of tied modules. An all-zero pattern gives the empty set.
    """
    total = ranks.sum()
    if total <= 0:
        return set()
    ordered = ranks.sort_values(ascending=False)
    threshold_rank = ordered[ordered.cumsum() >= share * total].iloc[0]
    return set(ordered[ordered >= threshold_rank].index)


def seed_pair_agreement(rank_patterns: pd.DataFrame, share: float = 0.5) -> pd.DataFrame:
    """Return, for every pair of seeds of a scorer, the agreement of their final rank patterns.

    Spearman's ρ and Kendall's τ-b (scipy.stats) of the per-module rank vectors, aligned by
    module name, and the Jaccard index of the two sets of :func:`top_budget_modules`. A
    constant rank vector makes ρ and τ undefined (nan).
    """
    final = final_rank_patterns(rank_patterns)
    if final.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    rows = []
    for (task, scorer), group in final.groupby(["task", "scorer"], sort=True):
        vectors = {seed: runs.set_index("module")["rank"] for seed, runs in group.groupby("seed")}
        for seed_a, seed_b in itertools.combinations(sorted(vectors), 2):
            left, right = vectors[seed_a].align(vectors[seed_b], join="inner")
            constant = left.nunique() < 2 or right.nunique() < 2
            rho = float("nan") if constant else float(stats.spearmanr(left, right).statistic)
            tau = float("nan") if constant else float(stats.kendalltau(left, right).statistic)
            top_left, top_right = top_budget_modules(left, share), top_budget_modules(right, share)
            union = top_left | top_right
            jaccard = len(top_left & top_right) / len(union) if union else float("nan")
            rows.append({"task": task, "scorer": scorer, "seed_a": seed_a, "seed_b": seed_b, "modules": len(left),
                         "spearman": rho, "kendall": tau, "top_modules_jaccard": jaccard})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def rank_variation(rank_patterns: pd.DataFrame) -> pd.DataFrame:
    """Return per scorer and module the mean and sample std of the final rank over seeds and their ratio.

    The coefficient of variation is std / mean. A module pruned to rank 0 in every seed does
    not vary, so its CV is 0 rather than 0 / 0. One seed gives a std and CV of nan.
    """
    final = final_rank_patterns(rank_patterns)
    if final.empty:
        return pd.DataFrame(columns=CV_COLUMNS)
    grouped = final.groupby(["task", "scorer", "module"], sort=True)
    table = grouped.agg(layer=("layer", "first"), module_type=("module_type", "first"), seeds=("seed", "nunique"),
                        mean_rank=("rank", "mean"), std_rank=("rank", "std")).reset_index()
    table["cv"] = np.where(table["std_rank"] == 0, 0.0, table["std_rank"] / table["mean_rank"])
    table.loc[table["std_rank"].isna(), "cv"] = np.nan
    return table[CV_COLUMNS]


def allocation_changes(triplet_scores: pd.DataFrame) -> pd.DataFrame:
    """Return per run and pair of consecutive allocation steps the mask flips and score agreement.

    ``flips`` counts triplets whose kept flag differs between the two steps. ``forced_flips``
    is the change in the number kept: the flips that the shrinking budget alone forces.
    Both fractions divide by the number of triplets. ``score_kendall`` is Kendall's τ-b of
    the two steps' triplet scores, aligned by (module, triplet).
    """
    if triplet_scores.empty:
        return pd.DataFrame(columns=STEP_COLUMNS)
    rows = []
    for run, table in triplet_scores.groupby("run", sort=True):
        wide_kept = table.pivot_table(index=["module", "triplet"], columns="step", values="kept")
        wide_score = table.pivot_table(index=["module", "triplet"], columns="step", values="score")
        steps = sorted(wide_kept.columns)
        identity = table.iloc[0]
        for previous, step in zip(steps, steps[1:]):
            before, after = wide_kept[previous].astype(bool), wide_kept[step].astype(bool)
            flips = int((before != after).sum())
            forced = abs(int(after.sum()) - int(before.sum()))
            scores_before, scores_after = wide_score[previous], wide_score[step]
            constant = scores_before.nunique() < 2 or scores_after.nunique() < 2
            tau = float("nan") if constant else float(stats.kendalltau(scores_before, scores_after).statistic)
            rows.append({
                "run": run, "task": identity["task"], "scorer": identity["scorer"], "seed": identity["seed"],
                "step": step, "previous_step": previous, "triplets": len(before), "flips": flips,
                "forced_flips": forced, "flip_fraction": flips / len(before),
                "excess_flip_fraction": (flips - forced) / len(before), "score_kendall": tau,
            })
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def settling_steps(rank_patterns: pd.DataFrame) -> pd.DataFrame:
    """Return per run the step after which the rank pattern stops changing.

    That is the last recorded step whose per-module ranks differ from those of the step
    before; 0 when the pattern never changes after step 0. ``final_allocation_step`` is the
    run's last recorded step, for scale.
    """
    if rank_patterns.empty:
        return pd.DataFrame(columns=SETTLING_COLUMNS)
    rows = []
    for run, table in rank_patterns.groupby("run", sort=True):
        wide = table.pivot_table(index="module", columns="step", values="rank")
        steps = sorted(wide.columns)
        settling = 0
        for previous, step in zip(steps, steps[1:]):
            if not wide[previous].equals(wide[step]):
                settling = step
        identity = table.iloc[0]
        rows.append({"run": run, "task": identity["task"], "scorer": identity["scorer"], "seed": identity["seed"],
                     "settling_step": settling, "final_allocation_step": steps[-1], "allocations": len(steps) - 1})
    return pd.DataFrame(rows, columns=SETTLING_COLUMNS)


def stability_summary(pairs: pd.DataFrame, variation: pd.DataFrame, changes: pd.DataFrame,
                      settling: pd.DataFrame) -> pd.DataFrame:
    """Return one row per task and scorer with the means of every stability measure."""
    parts = []
    if not pairs.empty:
        parts.append(pairs.groupby(["task", "scorer"])[["spearman", "kendall", "top_modules_jaccard"]].mean()
                     .rename(columns=lambda name: f"seed_{name}"))
    if not variation.empty:
        parts.append(variation.groupby(["task", "scorer"])[["cv"]].mean().rename(columns={"cv": "mean_rank_cv"}))
    if not changes.empty:
        parts.append(changes.groupby(["task", "scorer"])[["flip_fraction", "excess_flip_fraction", "score_kendall"]]
                     .mean().rename(columns=lambda name: f"mean_{name}"))
    if not settling.empty:
        parts.append(settling.groupby(["task", "scorer"])[["settling_step"]].mean()
                     .rename(columns={"settling_step": "mean_settling_step"}))
    if not parts:
        return pd.DataFrame(columns=["task", "scorer"])
    return pd.concat(parts, axis=1).reset_index()
