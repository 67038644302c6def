"""Figures of the report, each a function from DataFrames to a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # reports are files; no display is needed or assumed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PAGE_SIZE = (11.0, 8.5)  # inches, US letter landscape


def scorer_palette(scorers: list[str]) -> dict[str, tuple[float, float, float]]:
    """Return one fixed colour per scorer, the same on every page."""
    colours = sns.color_palette("colorblind", n_colors=max(len(scorers), 1))
    return {scorer: colours[index % len(colours)] for index, scorer in enumerate(sorted(scorers))}


def _empty(title: str, message: str) -> plt.Figure:
    figure, axis = plt.subplots(figsize=PAGE_SIZE)
    axis.axis("off")
    axis.set_title(title)
    axis.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    return figure


def accuracy_figure(finished: pd.DataFrame, palette: dict) -> plt.Figure:
    """Main metric per scorer: each seed as a dot, mean ± std as a bar with error bars."""
    if finished.empty:
        return _empty("Accuracy", "No finished runs.")
    metric = finished["main_metric"].iloc[0]
    order = sorted(finished["scorer"].unique())
    summary = finished.groupby("scorer")["main_value"].agg(["mean", "std"]).reindex(order)
    figure, axis = plt.subplots(figsize=PAGE_SIZE)
    positions = np.arange(len(order))
    axis.bar(positions, summary["mean"], yerr=summary["std"].fillna(0), capsize=6,
             color=[palette[s] for s in order], alpha=0.6, label="mean ± std over seeds")
    for position, scorer in zip(positions, order):
        values = finished.loc[finished["scorer"] == scorer, "main_value"]
        axis.scatter(np.full(len(values), position), values, color="black", zorder=3, s=18)
    axis.set_xticks(positions, order)
    low = finished["main_value"].min()
    axis.set_ylim(max(0.0, low - 0.05), min(1.0, finished["main_value"].max() + 0.03) if low >= 0 else None)
    axis.set_xlabel("scorer")
    axis.set_ylabel(f"{metric} on the evaluation split")
    axis.set_title(f"{metric} per scorer (dots: seeds)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def final_rank_matrix(rank_patterns: pd.DataFrame, scorer: str) -> pd.DataFrame:
    """Return the mean final rank of ``scorer`` over seeds as layers x module types."""
    runs = rank_patterns[rank_patterns["scorer"] == scorer]
    final = runs[runs["step"] == runs.groupby("run")["step"].transform("max")]
    return final.pivot_table(index="layer", columns="module_type", values="rank", aggfunc="mean")


def rank_heatmap_figure(rank_patterns: pd.DataFrame, scorers: list[str]) -> plt.Figure:
    """Final rank pattern of each scorer: mean rank over seeds per layer and module type."""
    if rank_patterns.empty:
        return _empty("Final rank pattern", "No rank patterns recorded.")
    columns = min(len(scorers), 3)
    rows = int(np.ceil(len(scorers) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=PAGE_SIZE, squeeze=False)
    vmax = rank_patterns["rank"].max()
    for axis, scorer in zip(axes.flat, scorers):
        matrix = final_rank_matrix(rank_patterns, scorer)
        sns.heatmap(matrix, ax=axis, vmin=0, vmax=vmax, annot=True, fmt=".1f", cmap="viridis",
                    cbar_kws={"label": "rank (triplets kept)"})
        axis.set_title(scorer)
        axis.set_xlabel("module type")
        axis.set_ylabel("layer")
        axis.tick_params(axis="x", labelrotation=30)
    for axis in list(axes.flat)[len(scorers):]:
        axis.axis("off")
    figure.suptitle("Final rank per module (mean over seeds)")
    figure.tight_layout()
    return figure


def budget_and_loss_figure(train_logs: pd.DataFrame, palette: dict) -> plt.Figure:
    """Budget b(t) and training loss (50-step moving mean) against the optimizer step."""
    if train_logs.empty:
        return _empty("Budget and loss", "No training logs.")
    figure, (budget_axis, loss_axis) = plt.subplots(1, 2, figsize=PAGE_SIZE)
    first_run = train_logs[train_logs["run"] == train_logs["run"].iloc[0]]
    budget_axis.plot(first_run["step"], first_run["budget"], color="black")
    budget_axis.set_xlabel("optimizer step")
    budget_axis.set_ylabel("budget b(t) (triplets)")
    budget_axis.set_title("Budget schedule")
    for scorer, group in train_logs.groupby("scorer"):
        mean_loss = group.groupby("step")["loss"].mean().rolling(50, min_periods=1).mean()
        loss_axis.plot(mean_loss.index, mean_loss.values, color=palette[scorer], label=scorer)
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("training loss (mean over seeds, 50-step moving mean)")
    loss_axis.set_title("Training loss")
    loss_axis.legend()
    figure.tight_layout()
    return figure


def time_figure(finished: pd.DataFrame, palette: dict) -> plt.Figure:
    """Seconds per optimizer step per scorer, each seed a dot."""
    if finished.empty:
        return _empty("Time per step", "No finished runs.")
    order = sorted(finished["scorer"].unique())
    figure, axis = plt.subplots(figsize=PAGE_SIZE)
    sns.barplot(data=finished, x="scorer", y="seconds_per_step", order=order, hue="scorer", palette=palette,
                errorbar="sd", ax=axis, legend=False, alpha=0.7)
    sns.stripplot(data=finished, x="scorer", y="seconds_per_step", order=order, color="black", ax=axis, size=5)
    axis.set_xlabel("scorer")
    axis.set_ylabel("seconds per optimizer step")
    axis.set_title("Time per optimizer step (bars: mean ± std over seeds)")
    figure.tight_layout()
    return figure
