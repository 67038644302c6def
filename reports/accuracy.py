"""Accuracy across seeds: intervals, paired differences against a reference scorer, tests.

Every function takes the finished-runs table of :mod:`reports.load` (one row per run with
``task``, ``scorer``, ``seed``, ``main_metric``, ``main_value`` and parameter counts) and
returns a DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_COLUMNS = [
    "task", "scorer", "main_metric", "seeds", "mean", "std", "ci_low", "ci_high", "adapter_parameters",
    "trainable_parameters",
]
TEST_COLUMNS = [
    "task", "scorer", "reference", "pairs", "mean_difference", "wins", "losses", "ties", "wilcoxon_statistic",
    "wilcoxon_p", "sign_test_p",
]


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95, n_resamples: int = 9999,
                       seed: int = 0) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean (scipy.stats.bootstrap).

    Fewer than two values give (nan, nan); identical values give the value twice. With
    three seeds the resampled means take only ten distinct values, so the interval is coarse.
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                             method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def accuracy_summary(finished: pd.DataFrame, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Return per task and scorer: seeds, mean, sample std, bootstrap interval and mean parameter counts."""
    if finished.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rows = []
    for (task, scorer), group in finished.groupby(["task", "scorer"], sort=True):
        values = group["main_value"].to_numpy(dtype=float)
        low, high = bootstrap_interval(values, confidence, seed=seed)
        rows.append({
            "task": task,
            "scorer": scorer,
            "main_metric": group["main_metric"].iloc[0],
            "seeds": len(values),
            "mean": values.mean(),
            "std": values.std(ddof=1) if len(values) > 1 else float("nan"),
            "ci_low": low,
            "ci_high": high,
            "adapter_parameters": group["adapter_parameters"].mean(),
            "trainable_parameters": group["trainable_parameters"].mean(),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def paired_differences(finished: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Return main_value(scorer) - main_value(reference) for every seed that both finished."""
    columns = ["task", "scorer", "reference", "seed", "value", "reference_value", "difference"]
    if finished.empty or reference not in set(finished["scorer"]):
        return pd.DataFrame(columns=columns)
    base = finished[finished["scorer"] == reference][["task", "seed", "main_value"]]
    base = base.rename(columns={"main_value": "reference_value"})
    others = finished[finished["scorer"] != reference][["task", "scorer", "seed", "main_value"]]
    paired = others.merge(base, on=["task", "seed"], how="inner").rename(columns={"main_value": "value"})
    paired["reference"] = reference
    paired["difference"] = paired["value"] - paired["reference_value"]
    return paired[columns].sort_values(["task", "scorer", "seed"]).reset_index(drop=True)


def paired_tests(differences: pd.DataFrame) -> pd.DataFrame:
    """Return per task and scorer the Wilcoxon signed-rank test and the sign test of the differences.

    Both are two-sided with scipy's exact null distributions. Ties (difference 0) are dropped
    from both tests (Wilcoxon's ``zero_method='wilcox'``). With n non-zero pairs the smallest
    attainable p is 2 / 2**n, which is 0.25 for three seeds: no result with three seeds can
    reach p < 0.05.
    """
    if differences.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    rows = []
    for (task, scorer), group in differences.groupby(["task", "scorer"], sort=True):
        values = group["difference"].to_numpy(dtype=float)
        nonzero = values[values != 0]
        wins, losses = int((values > 0).sum()), int((values < 0).sum())
        statistic = p_value = sign_p = float("nan")
        if len(nonzero) > 0:
            test = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided", method="exact")
            statistic, p_value = float(test.statistic), float(test.pvalue)
            sign_p = float(stats.binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)
        rows.append({
            "task": task, "scorer": scorer, "reference": group["reference"].iloc[0], "pairs": len(values),
            "mean_difference": values.mean(), "wins": wins, "losses": losses, "ties": len(values) - wins - losses,
            "wilcoxon_statistic": statistic, "wilcoxon_p": p_value, "sign_test_p": sign_p,
        })
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
