"""Final rank patterns: mean and across-seed standard deviation per layer and module type."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .common import PAGE_SIZE, empty_figure


def final_rank_matrix(final_patterns: pd.DataFrame, scorer: str, statistic: str = "mean") -> pd.DataFrame:
    """Return ``statistic`` ('mean' or 'std') over seeds of ``scorer``'s final ranks as layers x module types."""
    runs = final_patterns[final_patterns["scorer"] == scorer]
    return runs.pivot_table(index="layer", columns="module_type", values="rank", aggfunc=statistic)


def rank_heatmap_figure(final_patterns: pd.DataFrame, scorers: list[str], statistic: str = "mean") -> plt.Figure:
    """Heatmaps of the final rank per module, one per scorer: its mean or its std over seeds."""
    description = "mean over seeds" if statistic == "mean" else "standard deviation over seeds"
    if final_patterns.empty:
        return empty_figure(f"Final rank per module ({description})", "No rank patterns recorded.")

    columns = min(len(scorers), 2)
    rows = int(np.ceil(len(scorers) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=PAGE_SIZE, squeeze=False)
    matrices = {scorer: final_rank_matrix(final_patterns, scorer, statistic) for scorer in scorers}
    vmax = max([float(np.nanmax(m.to_numpy())) for m in matrices.values() if m.size and not m.isna().all().all()]
               + [1.0])

    label = "rank (triplets kept)" if statistic == "mean" else "std of rank (triplets)"
    for axis, scorer in zip(axes.flat, scorers):
        matrix = matrices[scorer]
        if matrix.empty or matrix.isna().all().all():
            axis.axis("off")
            axis.set_title(f"{scorer}: needs two or more seeds" if statistic == "std" else scorer)
            continue
        sns.heatmap(matrix, ax=axis, vmin=0, vmax=vmax, annot=True, fmt=".1f", cmap="viridis",
                    annot_kws={"fontsize": 8}, cbar_kws={"label": label})
        axis.set_title(scorer)
        axis.set_xlabel("module type")
        axis.set_ylabel("layer")
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
        for tick in axis.get_xticklabels():
            tick.set_horizontalalignment("right")

    for axis in list(axes.flat)[len(scorers):]:
        axis.axis("off")
    figure.suptitle(f"Final rank per module: {description}")
    figure.tight_layout()
    return figure
