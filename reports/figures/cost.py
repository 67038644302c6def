"""Cost per scorer: seconds per step, extra passes, peak memory and wall time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .common import PAGE_SIZE, empty_figure

PANELS = [
    ("seconds_per_step", 1.0, "seconds per optimizer step", "Time per step"),
    ("extra_passes_per_step", 1.0, "extra forward+backward passes per step", "Extra passes of the scorer"),
    ("peak_memory_mb", 1.0, "peak memory (MiB)", "Peak memory"),
    ("wall_seconds", 1.0, "wall time of training (seconds)", "Training wall time"),
]


def cost_figure(finished: pd.DataFrame, cost: pd.DataFrame, palette: dict, reference: str) -> plt.Figure:
    """Bars of each cost (mean over seeds, dots: seeds) with the ratio to the reference above each bar."""
    if finished.empty:
        return empty_figure("Cost", "No finished runs.")
    figure, axes = plt.subplots(2, 2, figsize=PAGE_SIZE)
    order = sorted(finished["scorer"].unique())
    for axis, (column, scale, ylabel, title) in zip(axes.flat, PANELS):
        if column == "wall_seconds" and finished[column].max() >= 600:
            scale, ylabel = 1 / 60, "wall time of training (minutes)"
        table = finished.assign(value=finished[column] * scale)
        sns.barplot(data=table, x="scorer", y="value", order=order, hue="scorer", palette=palette, errorbar=None,
                    ax=axis, legend=False, alpha=0.6)
        sns.stripplot(data=table, x="scorer", y="value", order=order, color="black", ax=axis, size=4)
        ratios = cost.groupby("scorer")[f"{column}_ratio"].mean()
        tops = table.groupby("scorer")["value"].max()  # above the highest seed, so dots stay visible
        for position, scorer in enumerate(order):
            ratio = ratios.get(scorer)
            if ratio is not None and pd.notna(ratio):
                axis.annotate(f"×{ratio:.2f}", (position, tops[scorer]), ha="center", va="bottom", fontsize=8,
                              xytext=(0, 4), textcoords="offset points")
        low, high = axis.get_ylim()
        axis.set_ylim(low, high + 0.08 * (high - low))
        axis.set_xlabel("scorer")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
    memory_kind = ", ".join(sorted(finished["memory_kind"].dropna().astype(str).unique())) or "unknown"
    figure.suptitle(f"Cost per scorer (×: ratio to {reference}; memory: {memory_kind}; "
                    "ablation time not included)")
    figure.tight_layout()
    return figure
