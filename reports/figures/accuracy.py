"""Accuracy with bootstrap intervals, and paired differences against the reference scorer."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import PAGE_SIZE, empty_figure


def _format_p(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.3g}"


def accuracy_figure(finished: pd.DataFrame, summary: pd.DataFrame, differences: pd.DataFrame, tests: pd.DataFrame,
                    palette: dict, reference: str) -> plt.Figure:
    """Per task: the main metric per scorer (mean, 95% bootstrap interval, seeds as dots) and the
    per-seed differences to the reference with the Wilcoxon and sign-test p-values."""
    if finished.empty:
        return empty_figure("Accuracy", "No finished runs.")
    tasks = sorted(summary["task"].unique())
    figure, axes = plt.subplots(len(tasks), 2, figsize=PAGE_SIZE, squeeze=False)
    for row, task in enumerate(tasks):
        value_axis, difference_axis = axes[row]
        task_summary = summary[summary["task"] == task].reset_index(drop=True)
        metric = task_summary["main_metric"].iloc[0]
        order = task_summary["scorer"].tolist()
        positions = np.arange(len(order))
        means = task_summary["mean"].to_numpy()
        low = np.where(task_summary["ci_low"].isna(), means, task_summary["ci_low"])
        high = np.where(task_summary["ci_high"].isna(), means, task_summary["ci_high"])
        value_axis.bar(positions, means, color=[palette[s] for s in order], alpha=0.6,
                       yerr=[means - low, high - means], capsize=6, label="mean, 95% bootstrap interval")
        task_runs = finished[finished["task"] == task]
        for position, scorer in zip(positions, order):
            values = task_runs.loc[task_runs["scorer"] == scorer, "main_value"]
            value_axis.scatter(np.full(len(values), position), values, color="black", zorder=3, s=20)
        spread = task_runs["main_value"].max() - task_runs["main_value"].min()
        margin = max(spread, 0.01) * 0.6
        value_axis.set_ylim(task_runs["main_value"].min() - margin, task_runs["main_value"].max() + margin)
        value_axis.set_xticks(positions, order)
        value_axis.set_xlabel("scorer")
        value_axis.set_ylabel(f"{metric} on the evaluation split")
        value_axis.set_title(f"{task}: {metric} per scorer (dots: seeds)")
        value_axis.legend(loc="lower right", fontsize=8)

        task_differences = differences[differences["task"] == task]
        others = [scorer for scorer in order if scorer != reference]
        if task_differences.empty or not others:
            difference_axis.axis("off")
            difference_axis.text(0.5, 0.5, f"No paired seeds with the reference {reference!r}.", ha="center")
            continue
        for position, scorer in enumerate(others):
            values = task_differences.loc[task_differences["scorer"] == scorer, "difference"]
            difference_axis.scatter(np.full(len(values), position), values, color=palette[scorer], s=30, zorder=3)
            if not values.empty:
                difference_axis.hlines(values.mean(), position - 0.25, position + 0.25, color=palette[scorer])
            test = tests[(tests["task"] == task) & (tests["scorer"] == scorer)]
            if not test.empty:
                test = test.iloc[0]
                difference_axis.annotate(
                    f"Wilcoxon p={_format_p(test['wilcoxon_p'])}\nsign p={_format_p(test['sign_test_p'])}",
                    (position, 1.0), xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=8)
        difference_axis.axhline(0.0, color="grey", linewidth=1)
        difference_axis.set_xticks(range(len(others)), others)
        difference_axis.set_xlabel("scorer")
        difference_axis.set_ylabel(f"{metric} minus {reference}'s, same seed")
        difference_axis.set_title(f"{task}: paired differences to {reference} (line: mean)")
        low, high = difference_axis.get_ylim()
        difference_axis.set_ylim(low, high + (high - low) * 0.25)  # room for the p-values
    figure.tight_layout()
    return figure
