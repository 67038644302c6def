"""Cost analysis on a hand-made run table: means and ratios to the reference."""

import math

import pandas as pd
import pytest

from reports.cost import cost_summary


def run(scorer, seed, seconds, passes, memory, wall):
    return {"task": "sst2", "scorer": scorer, "seed": seed, "seconds_per_step": seconds,
            "extra_passes_per_step": passes, "peak_memory_mb": memory, "wall_seconds": wall,
            "memory_kind": "process_max_rss"}


FINISHED = pd.DataFrame([
    run("adalora", 0, 0.20, 0.0, 1000, 120),
    run("adalora", 1, 0.30, 0.0, 1100, 180),
    run("ig", 0, 0.50, 0.8, 1500, 300),
    run("ig", 1, 0.70, 0.8, 1700, 420),
])


def test_cost_ratios_by_hand():
    cost = cost_summary(FINISHED, "adalora").set_index("scorer")
    assert cost.loc["ig", "mean_seconds_per_step"] == pytest.approx(0.6)
    assert cost.loc["ig", "seconds_per_step_ratio"] == pytest.approx(0.6 / 0.25)
    assert cost.loc["ig", "peak_memory_mb_ratio"] == pytest.approx(1600 / 1050)
    assert cost.loc["ig", "wall_seconds_ratio"] == pytest.approx(360 / 150)
    assert cost.loc["adalora", "seconds_per_step_ratio"] == pytest.approx(1.0)
    assert cost.loc["ig", "std_wall_seconds"] == pytest.approx(math.sqrt(2 * 60**2))


def test_ratio_to_zero_passes_is_nan():
    cost = cost_summary(FINISHED, "adalora").set_index("scorer")
    assert math.isnan(cost.loc["ig", "extra_passes_per_step_ratio"])


def test_missing_reference_gives_nan_ratios():
    cost = cost_summary(FINISHED, "magnitude")
    assert cost["seconds_per_step_ratio"].isna().all()
    assert cost["seeds"].tolist() == [2, 2]
