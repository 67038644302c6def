"""Bias of the scores against the ablation ground truth.

Inputs are the ``ablations`` table of :mod:`reports.load` (ablation.csv of every run: step,
kind, module, layer, module_type, triplet, loss_increase, ...) and ``triplet_scores``. At
each checkpoint a run's own scores are those of its latest allocation step at or before the
checkpoint (``score_step``). The checkpoints default to allocation steps, where the two
coincide. Only triplets measured at the checkpoint enter, and those are the triplets that
were active (unmasked) there.

Normalized ranks map each run's values at one checkpoint to [0, 1]: (rank - 1) / (n - 1),
with ties given their average rank (scipy.stats.rankdata), so 1 is the most important.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["run", "task", "scorer", "seed", "step"]
CORRELATION_COLUMNS = KEYS + ["score_step", "triplets", "spearman", "spearman_p", "top_k", "top_k_overlap",
                              "chance_overlap"]
GROUP_COLUMNS = ["task", "scorer", "step_label", "group", "triplets", "runs", "mean_signed_difference",
                 "std_signed_difference"]


def _latest_score_step(run_scores: pd.DataFrame, step: int) -> int | None:
    """Return the last allocation step at or before ``step`` with recorded scores, or None."""
    earlier = run_scores.loc[run_scores["step"] <= step, "step"]
    return None if earlier.empty else earlier.max()


def pair_scores_with_ablation(ablations: pd.DataFrame, triplet_scores: pd.DataFrame) -> pd.DataFrame:
    """Return one row per measured triplet with its score at ``score_step`` and its loss increase."""
    columns = KEYS + ["score_step", "module", "layer", "module_type", "triplet", "score", "kept", "loss_increase"]
    if ablations.empty or triplet_scores.empty:
        return pd.DataFrame(columns=columns)
    measured = ablations[(ablations["kind"] == "triplet") & (ablations["measured"] == 1)].copy()
    if measured.empty:
        return pd.DataFrame(columns=columns)
    measured["triplet"] = measured["triplet"].astype(int)
    parts = []
    for (run, step), group in measured.groupby(["run", "step"], sort=True):
        run_scores = triplet_scores[triplet_scores["run"] == run]
        score_step = _latest_score_step(run_scores, step)
        if score_step is None:
            continue
        scores = run_scores[run_scores["step"] == score_step][["module", "triplet", "score", "kept"]]
        merged = group.merge(scores, on=["module", "triplet"], how="inner")
        merged["score_step"] = score_step
        parts.append(merged)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def normalized_rank(values: pd.Series) -> pd.Series:
    """Return (rank - 1) / (n - 1) with average ranks for ties; a single value maps to 0.5."""
    if len(values) == 1:
        return pd.Series([0.5], index=values.index)
    ranks = stats.rankdata(values.to_numpy(dtype=float), method="average")
    return pd.Series((ranks - 1) / (len(values) - 1), index=values.index)


def score_ablation_agreement(paired: pd.DataFrame, top_fraction: float = 0.25) -> pd.DataFrame:
    """Return per run and checkpoint Spearman's ρ and the top-k overlap of scores and loss increases.

    k = max(1, round(top_fraction × n)) for n measured triplets. The overlap is the share of
    the k highest-scoring triplets that are also among the k with the largest loss
    increase. Ties at the k-th place are broken by the (module, triplet) order, the same for
    both rankings. ``chance_overlap`` = k / n is the overlap that random scores would reach
    on average.
    """
    if paired.empty:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    rows = []
    for keys, group in paired.groupby(KEYS, sort=True):
        group = group.sort_values(["module", "triplet"])
        n = len(group)
        k = max(1, int(round(top_fraction * n)))
        constant = group["score"].nunique() < 2 or group["loss_increase"].nunique() < 2
        rho = p_value = float("nan")
        if not constant:
            result = stats.spearmanr(group["score"], group["loss_increase"])
            rho, p_value = float(result.statistic), float(result.pvalue)
        by_score = set(group.sort_values("score", ascending=False, kind="stable").index[:k])
        by_ablation = set(group.sort_values("loss_increase", ascending=False, kind="stable").index[:k])
        rows.append({
            **dict(zip(KEYS, keys)), "score_step": group["score_step"].iloc[0], "triplets": n, "spearman": rho,
            "spearman_p": p_value, "top_k": k, "top_k_overlap": len(by_score & by_ablation) / k,
            "chance_overlap": k / n,
        })
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def with_rank_differences(paired: pd.DataFrame) -> pd.DataFrame:
    """Add the normalized score rank, the normalized ablation rank and their signed difference.

    The difference is positive where a triplet's score ranks it above its ablation rank:
    the scorer overrates it.
    """
    if paired.empty:
        return paired.assign(score_rank=[], ablation_rank=[], signed_difference=[])
    table = paired.copy()
    groups = table.groupby(["run", "step"], sort=False)
    table["score_rank"] = groups["score"].transform(normalized_rank)
    table["ablation_rank"] = groups["loss_increase"].transform(normalized_rank)
    table["signed_difference"] = table["score_rank"] - table["ablation_rank"]
    return table


def checkpoint_labels(ablations: pd.DataFrame) -> pd.DataFrame:
    """Return run, step and a label per checkpoint: 'final' for a run's last, else 'checkpoint i of n'.

    Runs of one scorer can have different checkpoint steps (explicit steps differ, or T
    differs), so figures and group tables pool checkpoints by their position in the run.
    """
    if ablations.empty:
        return pd.DataFrame(columns=["run", "step", "step_label"])
    steps = ablations[["run", "step"]].drop_duplicates().sort_values(["run", "step"])
    steps["position"] = steps.groupby("run").cumcount() + 1
    steps["count"] = steps.groupby("run")["step"].transform("size")
    steps["step_label"] = np.where(steps["position"] == steps["count"], "final",
                                   "checkpoint " + steps["position"].astype(str) + " of " + steps["count"].astype(str))
    return steps[["run", "step", "step_label"]]


def bias_by_group(ranked: pd.DataFrame, labels: pd.DataFrame, group: str) -> pd.DataFrame:
    """Return the mean signed rank difference per scorer, checkpoint label and ``group`` value.

    ``group`` is a column such as ``layer`` or ``module_type``. The mean runs over every
    measured triplet of that group in every seed of the scorer. A positive mean shows that
    the scorer systematically ranks the group's triplets above their ablation ranks.
    """
    if ranked.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    table = ranked.merge(labels, on=["run", "step"], how="left")
    grouped = table.groupby(["task", "scorer", "step_label", group], sort=True)
    result = grouped.agg(triplets=("signed_difference", "size"), runs=("run", "nunique"),
                         mean_signed_difference=("signed_difference", "mean"),
                         std_signed_difference=("signed_difference", "std")).reset_index()
    return result.rename(columns={group: "group"})[GROUP_COLUMNS]


def module_agreement(ablations: pd.DataFrame, triplet_scores: pd.DataFrame) -> pd.DataFrame:
    """Return per run and checkpoint Spearman's ρ between module scores and whole-module ablation.

    A module's score is the sum of the scores (at ``score_step``) of its triplets that were
    active at the checkpoint, which are the triplets that masking the whole module removes.
    The active ones are those kept by the last allocation before the checkpoint step, or
    all of them before the first allocation. Only measured modules enter.
    """
    columns = KEYS + ["score_step", "modules", "spearman"]
    if ablations.empty or triplet_scores.empty:
        return pd.DataFrame(columns=columns)
    modules = ablations[(ablations["kind"] == "module") & (ablations["measured"] == 1)]
    rows = []
    for (run, step), group in modules.groupby(["run", "step"], sort=True):
        run_scores = triplet_scores[triplet_scores["run"] == run]
        score_step = _latest_score_step(run_scores, step)
        if score_step is None:
            continue
        at_score_step = run_scores[run_scores["step"] == score_step]
        before = run_scores.loc[run_scores["step"] < step, "step"]
        if before.empty:
            active = at_score_step
        else:
            last_allocation = run_scores[run_scores["step"] == before.max()]
            kept = last_allocation[last_allocation["kept"] == 1][["module", "triplet"]]
            active = at_score_step.merge(kept, on=["module", "triplet"], how="inner")
        sums = active.groupby("module")["score"].sum()
        merged = group.set_index("module")[["loss_increase"]].join(sums, how="inner")
        identity = group.iloc[0]
        rho = float("nan")
        if len(merged) > 1 and merged["score"].nunique() > 1 and merged["loss_increase"].nunique() > 1:
            rho = float(stats.spearmanr(merged["score"], merged["loss_increase"]).statistic)
        rows.append({"run": run, "task": identity["task"], "scorer": identity["scorer"], "seed": identity["seed"],
                     "step": step, "score_step": score_step, "modules": len(merged), "spearman": rho})
    return pd.DataFrame(rows, columns=columns)


def bias_summary(agreement: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Return per task, scorer and checkpoint label the mean and std over seeds of ρ and the overlap."""
    columns = ["task", "scorer", "step_label", "runs", "mean_spearman", "std_spearman", "mean_top_k_overlap",
               "mean_chance_overlap"]
    if agreement.empty:
        return pd.DataFrame(columns=columns)
    table = agreement.drop(columns=["step_label"], errors="ignore").merge(labels, on=["run", "step"], how="left")
    grouped = table.groupby(["task", "scorer", "step_label"], sort=True)
    result = grouped.agg(runs=("run", "nunique"), mean_spearman=("spearman", "mean"),
                         std_spearman=("spearman", "std"), mean_top_k_overlap=("top_k_overlap", "mean"),
                         mean_chance_overlap=("chance_overlap", "mean")).reset_index()
    return result[columns]
