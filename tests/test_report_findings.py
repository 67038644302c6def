"""Sentences of the report's first page, from small hand-made stability tables."""

from types import SimpleNamespace

import pandas as pd

from reports.findings import _stability_findings


def stability(rows):
    columns = ["task", "scorer", "seed_spearman", "mean_excess_flip_fraction", "mean_score_kendall"]
    return SimpleNamespace(stability=pd.DataFrame(rows, columns=columns))


def test_equal_flip_fractions_read_as_a_tie():
    sentences = _stability_findings(stability([("sst2", "adalora", 0.6, 0.0, 0.89), ("sst2", "ig", 0.5, 0.0, 0.86)]))
    assert "every scorer flips 0.0% of the triplets per allocation" in sentences[1]
    assert "fewest" not in sentences[1]


def test_flip_fractions_name_extremes():
    sentences = _stability_findings(stability([("sst2", "adalora", 0.6, 0.02, 0.9), ("sst2", "ig", 0.5, 0.05, 0.8)]))
    assert sentences[1] == (
        "Over time, adalora flips the fewest masks beyond what the shrinking budget forces (2.0% of triplets "
        "per allocation) and ig the most (5.0%)."
    )


def test_score_reordering_names_extremes():
    sentences = _stability_findings(stability([("sst2", "adalora", 0.6, 0.0, 0.89), ("sst2", "ig", 0.5, 0.0, 0.86)]))
    assert sentences[2] == (
        "Between consecutive allocations, adalora reorders its triplet scores the least (mean Kendall τ 0.89) "
        "and ig the most (0.86)."
    )
