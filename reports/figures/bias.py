"""Scores against the ablation ground truth: scatter plots, agreement and bias per group."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .common import PAGE_SIZE, empty_figure

NO_ABLATION = ("No ablation measurements: the runs were made with ablation.enabled=false or before the "
               "ablation ground truth existed.")


def bias_scatter_figure(ranked: pd.DataFrame, agreement: pd.DataFrame, palette: dict) -> plt.Figure:
    """Normalized score rank against normalized ablation rank, one panel per scorer, all seeds and checkpoints."""
    if ranked.empty:
        return empty_figure("Scores vs ablation", NO_ABLATION)
    scorers = sorted(ranked["scorer"].unique())
    columns = min(len(scorers), 2)
    rows = int(np.ceil(len(scorers) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=PAGE_SIZE, squeeze=False)
    labels = sorted(ranked["step_label"].unique())
    markers = dict(zip(labels, ["o", "s", "^", "D", "v", "P"] * 3))
    for axis, scorer in zip(axes.flat, scorers):
        table = ranked[ranked["scorer"] == scorer]
        for label in labels:
            part = table[table["step_label"] == label]
            axis.scatter(part["ablation_rank"], part["score_rank"], s=14, alpha=0.6, color=palette[scorer],
                         marker=markers[label], label=label)
        axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        rhos = agreement[agreement["scorer"] == scorer].groupby("step_label")["spearman"].mean().dropna()
        summary = ", ".join(f"{label} = {rho:.2f}" for label, rho in rhos.items())
        axis.set_title(f"{scorer}: mean Spearman ρ at {summary}" if summary else scorer, fontsize=10)
        axis.set_xlabel("ablation rank (0 = smallest loss increase, 1 = largest)")
        axis.set_ylabel("score rank (0 = lowest, 1 = highest)")
        axis.set_xlim(-0.03, 1.03)
        axis.set_ylim(-0.03, 1.03)
        axis.legend(fontsize=7, loc="best", title="checkpoint", title_fontsize=7)
    for axis in list(axes.flat)[len(scorers):]:
        axis.axis("off")
    figure.suptitle("Triplet score vs ablation importance (points above the diagonal: overrated by the scorer)")
    figure.tight_layout()
    return figure


def _checkpoint_bars(axis, table: pd.DataFrame, column: str, order: list[str], checkpoints: list[str],
                     palette: dict) -> None:
    """Bars of the mean per scorer (colour) and checkpoint (shade, left to right), seeds as dots."""
    width = 0.8 / len(checkpoints)
    shades = np.linspace(0.35, 0.9, len(checkpoints))
    for position, scorer in enumerate(order):
        for index, (label, shade) in enumerate(zip(checkpoints, shades)):
            values = table.loc[(table["scorer"] == scorer) & (table["step_label"] == label), column].dropna()
            if values.empty:
                continue
            x = position - 0.4 + width * (index + 0.5)
            axis.bar(x, values.mean(), width=width * 0.95, color=palette[scorer], alpha=shade)
            axis.scatter(np.full(len(values), x), values, color="black", s=10, zorder=3)
    axis.set_xticks(range(len(order)), order)


def bias_agreement_figure(agreement: pd.DataFrame, modules: pd.DataFrame, palette: dict) -> plt.Figure:
    """Spearman ρ and top-k overlap with the ablation ranking per scorer and checkpoint, and ρ per module."""
    if agreement.empty:
        return empty_figure("Agreement with the ablation ground truth", NO_ABLATION)
    figure, axes = plt.subplots(1, 3, figsize=PAGE_SIZE)
    order = sorted(agreement["scorer"].unique())
    checkpoints = sorted(agreement["step_label"].unique(), key=lambda label: (label == "final", label))
    panels = [
        (agreement, "spearman", "Triplets: Spearman ρ", "Spearman ρ of triplet score and loss increase"),
        (agreement, "top_k_overlap", "Triplets: top-k overlap", "share of the top k by score that are top k by ablation"),
        (modules, "spearman", "Modules: Spearman ρ", "Spearman ρ of module score and module ablation"),
    ]
    for axis, (table, column, title, ylabel) in zip(axes, panels):
        if table.empty or table[column].isna().all():
            axis.axis("off")
            axis.set_title(title + ": no data")
            continue
        _checkpoint_bars(axis, table, column, order, checkpoints, palette)
        axis.axhline(0.0, color="grey", linewidth=1)
        axis.set_ylim(min(-0.1, table[column].min() - 0.05), 1.05)
        axis.set_xlabel("scorer")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        axis.tick_params(axis="x", labelrotation=20)
    chance = agreement["chance_overlap"].mean()
    axes[1].axhline(chance, color="red", linestyle=":", linewidth=1)
    axes[1].annotate("chance", (0.99, chance), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                     fontsize=8, color="red")
    order_text = ", ".join(checkpoints)
    figure.suptitle("Agreement of scores with the ablation ground truth (higher is better)\n"
                    f"bars per scorer, left to right, lighter to darker: {order_text}; dots: seeds", fontsize=11)
    figure.tight_layout()
    return figure


def bias_group_figure(by_layer: pd.DataFrame, by_type: pd.DataFrame, palette: dict) -> plt.Figure:
    """Mean signed difference of normalized score rank and ablation rank per layer and per module type."""
    if by_layer.empty and by_type.empty:
        return empty_figure("Bias by layer and module type", NO_ABLATION)
    figure, (layer_axis, type_axis) = plt.subplots(1, 2, figsize=PAGE_SIZE, gridspec_kw={"width_ratios": [1, 1.3]})
    for axis, table, xlabel in ((layer_axis, by_layer, "layer (transformer block)"), (type_axis, by_type, "module type")):
        if table.empty:
            axis.axis("off")
            continue
        table = table.copy()
        table["group"] = table["group"].astype(str)
        sns.barplot(data=table, x="group", y="mean_signed_difference", hue="scorer", palette=palette, ax=axis,
                    errorbar=None)
        axis.axhline(0.0, color="black", linewidth=1)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("mean (score rank − ablation rank), ranks in [0, 1]")
        axis.legend(title="scorer", fontsize=8)
        axis.tick_params(axis="x", labelrotation=20 if axis is type_axis else 0)
        for tick in axis.get_xticklabels():
            tick.set_horizontalalignment("right" if axis is type_axis else "center")
    layer_axis.set_title("Bias by layer (above 0: overrated by the scorer)")
    type_axis.set_title("Bias by module type (above 0: overrated by the scorer)")
    figure.suptitle("Systematic bias against the ablation ground truth, all checkpoints and seeds pooled")
    figure.tight_layout()
    return figure
