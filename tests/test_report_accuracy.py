"""Accuracy analysis on hand-made run tables: summary, bootstrap interval, paired tests."""

import math

import pandas as pd
import pytest

from reports.accuracy import accuracy_summary, bootstrap_interval, paired_differences, paired_tests


def runs(rows):
    return pd.DataFrame(
        [{"task": "sst2", "main_metric": "accuracy", "adapter_parameters": 100, "trainable_parameters": 150,
          **row} for row in rows]
    )


FINISHED = runs([
    {"scorer": "adalora", "seed": 0, "main_value": 0.80},
    {"scorer": "adalora", "seed": 1, "main_value": 0.82},
    {"scorer": "adalora", "seed": 2, "main_value": 0.84},
    {"scorer": "ig", "seed": 0, "main_value": 0.81},
    {"scorer": "ig", "seed": 1, "main_value": 0.85},
    {"scorer": "ig", "seed": 2, "main_value": 0.87, "adapter_parameters": 400},
])


def test_summary_mean_and_sample_std():
    summary = accuracy_summary(FINISHED).set_index("scorer")
    assert summary.loc["adalora", "seeds"] == 3
    assert summary.loc["adalora", "mean"] == pytest.approx(0.82)
    # Sample std of 0.80, 0.82, 0.84: sqrt((0.02² + 0 + 0.02²) / 2) = 0.02.
    assert summary.loc["adalora", "std"] == pytest.approx(0.02)
    assert summary.loc["ig", "adapter_parameters"] == pytest.approx(200)  # (100 + 100 + 400) / 3


def test_bootstrap_interval_brackets_the_mean():
    low, high = bootstrap_interval([0.80, 0.82, 0.84])
    # Resampled means of three values lie between the smallest and the largest value.
    assert 0.80 <= low < 0.82 < high <= 0.84


def test_bootstrap_interval_degenerate_cases():
    assert bootstrap_interval([0.9, 0.9, 0.9]) == (0.9, 0.9)
    low, high = bootstrap_interval([0.9])
    assert math.isnan(low)
    assert math.isnan(high)


def test_paired_differences_match_seeds():
    differences = paired_differences(FINISHED, "adalora")
    assert differences["scorer"].tolist() == ["ig", "ig", "ig"]
    assert differences["seed"].tolist() == [0, 1, 2]
    assert differences["difference"].tolist() == pytest.approx([0.01, 0.03, 0.03])


def test_paired_differences_skip_unpaired_seed():
    finished = FINISHED[~((FINISHED["scorer"] == "adalora") & (FINISHED["seed"] == 2))]
    assert paired_differences(finished, "adalora")["seed"].tolist() == [0, 1]


def test_paired_tests_three_wins():
    tests = paired_tests(paired_differences(FINISHED, "adalora")).iloc[0]
    assert tests["pairs"] == 3
    assert tests["wins"] == 3
    assert tests["losses"] == 0
    assert tests["mean_difference"] == pytest.approx(0.07 / 3)
    # Exact two-sided tests of three positive differences: 2 × (1/2)³ = 0.25 for both.
    assert tests["wilcoxon_p"] == pytest.approx(0.25)
    assert tests["sign_test_p"] == pytest.approx(0.25)
    assert tests["wilcoxon_statistic"] == 0.0  # no negative ranks


def test_paired_tests_all_ties():
    differences = pd.DataFrame({"task": ["sst2"] * 2, "scorer": ["ig"] * 2, "reference": ["adalora"] * 2,
                                "seed": [0, 1], "difference": [0.0, 0.0]})
    tests = paired_tests(differences).iloc[0]
    assert tests["ties"] == 2
    assert math.isnan(tests["wilcoxon_p"])
    assert math.isnan(tests["sign_test_p"])


def test_missing_reference_gives_empty_tables():
    assert paired_differences(FINISHED, "magnitude").empty
    assert paired_tests(paired_differences(FINISHED, "magnitude")).empty
