"""Stability across seeds (rank-pattern agreement, rank variation) and over allocation steps."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import pandas as pd
import seaborn as sns

from .common import PAGE_SIZE, empty_figure


def _bars_with_dots(axis, table: pd.DataFrame, column: str, order: list[str], palette: dict) -> None:
    sns.barplot(data=table, x="scorer", y=column, order=order, hue="scorer", palette=palette, errorbar=None,
                ax=axis, legend=False, alpha=0.6)
    sns.stripplot(data=table, x="scorer", y=column, order=order, color="black", ax=axis, size=5)
    axis.set_xlabel("scorer")


def seed_stability_figure(pairs: pd.DataFrame, variation: pd.DataFrame, palette: dict) -> plt.Figure:
    """Agreement of final rank patterns between seeds, and the coefficient of variation of module ranks."""
    if pairs.empty and variation.empty:
        return empty_figure("Stability across seeds", "Needs two or more finished seeds of a scorer.")

    figure, axes = plt.subplots(2, 2, figsize=PAGE_SIZE)
    order = sorted(set(pairs["scorer"]) | set(variation["scorer"]))
    panels = [
        ("spearman", "Spearman ρ of module ranks", "rank correlation of final ranks\nbetween two seeds (ρ)"),
        ("kendall", "Kendall τ-b of module ranks", "rank correlation of final ranks\nbetween two seeds (τ-b)"),
        ("top_modules_jaccard", "Agreement on the modules holding half the budget",
         "Jaccard index of the two module sets"),
    ]
    for axis, (column, title, ylabel) in zip(axes.flat, panels):
        if pairs.empty or pairs[column].isna().all():
            axis.axis("off")
            axis.set_title(title + ": no seed pairs")
            continue
        _bars_with_dots(axis, pairs, column, order, palette)
        axis.set_ylim(min(0.0, pairs[column].min() - 0.05), 1.05)
        axis.set_ylabel(ylabel)
        axis.set_title(f"{title} (bar: mean, dots: seed pairs)")

    cv_axis = axes.flat[3]
    finite = variation.dropna(subset=["cv"])
    if finite.empty:
        cv_axis.axis("off")
        cv_axis.set_title("Coefficient of variation: needs two or more seeds")
    else:
        sns.boxplot(data=finite, x="scorer", y="cv", order=order, hue="scorer", palette=palette, ax=cv_axis,
                    legend=False)
        cv_axis.set_xlabel("scorer")
        cv_axis.set_ylabel("std / mean of a module's final rank over seeds")
        cv_axis.set_title("Coefficient of variation per module (box: modules)")
    figure.suptitle("Stability across seeds: final rank patterns")
    figure.tight_layout()
    return figure


def time_stability_figure(changes: pd.DataFrame, settling: pd.DataFrame, palette: dict) -> plt.Figure:
    """Mask flips and score-ranking agreement between consecutive allocations, and the settling step."""
    if changes.empty and settling.empty:
        return empty_figure("Stability over time", "No allocation history recorded.")
    figure, axes = plt.subplots(2, 2, figsize=PAGE_SIZE)
    panels = [
        ("flip_fraction", "Mask flips per allocation", "share of triplets whose mask flips"),
        ("excess_flip_fraction", "Flips beyond those the budget forces", "share of triplets (flips − budget drop)"),
        ("score_kendall", "Score ranking vs the previous allocation", "Kendall τ-b of triplet scores"),
    ]
    for axis, (column, title, ylabel) in zip(axes.flat, panels):
        if changes.empty:
            axis.axis("off")
            continue
        for scorer, group in changes.groupby("scorer"):
            mean = group.groupby("step")[column].mean()
            axis.plot(mean.index, mean.values, color=palette[scorer], label=scorer, marker=".", markersize=4)
        axis.set_xlabel("optimizer step (allocation)")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(ylabel)
        axis.set_title(f"{title} (mean over seeds)")
        axis.legend(title="scorer", fontsize=8)

    settle_axis = axes.flat[3]
    if settling.empty:
        settle_axis.axis("off")
    else:
        order = sorted(settling["scorer"].unique())
        _bars_with_dots(settle_axis, settling, "settling_step", order, palette)
        final = settling["final_allocation_step"].max()
        settle_axis.axhline(final, color="grey", linestyle="--", linewidth=1)
        settle_axis.annotate("last allocation", (0.99, final), xycoords=("axes fraction", "data"), ha="right",
                             va="bottom", fontsize=8, color="grey")
        settle_axis.set_ylabel("optimizer step of the last rank change")
        settle_axis.set_title("When the rank pattern stops changing (dots: seeds)")
    figure.suptitle("Stability over time: consecutive allocation steps within a run")
    figure.tight_layout()
    return figure
