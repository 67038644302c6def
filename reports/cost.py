"""Cost of each scorer: time per step, extra passes, memory and wall time, and ratios to a reference.

Input is the finished-runs table of :mod:`reports.load`. Seconds per step and wall time
leave out the time spent measuring the ablation ground truth (the run removes it).
"""

from __future__ import annotations

import pandas as pd

MEASURES = ["seconds_per_step", "extra_passes_per_step", "peak_memory_mb", "wall_seconds"]
COLUMNS = (["task", "scorer", "seeds", "memory_kind"] + [f"mean_{m}" for m in MEASURES]
           + [f"std_{m}" for m in MEASURES] + [f"{m}_ratio" for m in MEASURES])


def cost_summary(finished: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Return per task and scorer the mean and sample std of each cost and its ratio to ``reference``.

    A ratio divides the scorer's mean by the reference's mean on the same task. It is nan
    when the reference has no finished run there or its mean is 0 (extra passes of a scorer
    that runs none).
    """
    if finished.empty:
        return pd.DataFrame(columns=COLUMNS)
    grouped = finished.groupby(["task", "scorer"], sort=True)
    table = grouped[MEASURES].mean().add_prefix("mean_")
    table = table.join(grouped[MEASURES].std().add_prefix("std_"))
    table["seeds"] = grouped.size()
    table["memory_kind"] = grouped["memory_kind"].first() if "memory_kind" in finished else None
    table = table.reset_index()
    for measure in MEASURES:
        means = table[table["scorer"] == reference].set_index("task")[f"mean_{measure}"]
        reference_mean = table["task"].map(means)
        table[f"{measure}_ratio"] = table[f"mean_{measure}"] / reference_mean.where(reference_mean != 0)
    return table[COLUMNS]
