"""Every analysis table of a report, computed once from the loaded runs."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import accuracy, bias, cost, stability
from .load import RunTables


@dataclass
class Analysis:
    """The loaded runs and every table that the report's pages and CSV files show."""

    tables: RunTables
    reference: str
    accuracy: pd.DataFrame
    differences: pd.DataFrame
    tests: pd.DataFrame
    final_patterns: pd.DataFrame
    seed_pairs: pd.DataFrame
    rank_variation: pd.DataFrame
    allocation_changes: pd.DataFrame
    settling: pd.DataFrame
    stability: pd.DataFrame
    checkpoint_labels: pd.DataFrame
    ranked: pd.DataFrame
    agreement: pd.DataFrame
    module_agreement: pd.DataFrame
    bias: pd.DataFrame
    bias_by_layer: pd.DataFrame
    bias_by_module_type: pd.DataFrame
    cost: pd.DataFrame

    def csv_tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables written next to the report, by file name."""
        return {
            "accuracy.csv": self.accuracy,
            "paired_differences.csv": self.differences,
            "paired_tests.csv": self.tests,
            "stability_seed_pairs.csv": self.seed_pairs,
            "stability_rank_cv.csv": self.rank_variation,
            "stability_allocations.csv": self.allocation_changes,
            "stability_settling.csv": self.settling,
            "stability_summary.csv": self.stability,
            "bias_triplets.csv": self.ranked,
            "bias_correlations.csv": self.agreement,
            "bias_modules.csv": self.module_agreement,
            "bias_summary.csv": self.bias,
            "bias_by_layer.csv": self.bias_by_layer,
            "bias_by_module_type.csv": self.bias_by_module_type,
            "cost.csv": self.cost,
        }


def analyze(tables: RunTables, reference: str = "adalora", top_fraction: float = 0.25) -> Analysis:
    """Compute every analysis table from the finished runs in ``tables``."""
    finished = tables.finished
    differences = accuracy.paired_differences(finished, reference)
    seed_pairs = stability.seed_pair_agreement(tables.rank_patterns)
    variation = stability.rank_variation(tables.rank_patterns)
    changes = stability.allocation_changes(tables.triplet_scores)
    settling = stability.settling_steps(tables.rank_patterns)

    labels = bias.checkpoint_labels(tables.ablations)
    paired = bias.pair_scores_with_ablation(tables.ablations, tables.triplet_scores)
    ranked = bias.with_rank_differences(paired)
    if not ranked.empty:
        ranked = ranked.merge(labels, on=["run", "step"], how="left")
    agreement = bias.score_ablation_agreement(paired, top_fraction)
    pooled = labels.assign(step_label="all checkpoints")
    ranked_for_groups = ranked.drop(columns=["step_label"], errors="ignore")
    by_layer = pd.concat([bias.bias_by_group(ranked_for_groups, labels, "layer"),
                          bias.bias_by_group(ranked_for_groups, pooled, "layer")], ignore_index=True)
    by_type = pd.concat([bias.bias_by_group(ranked_for_groups, labels, "module_type"),
                         bias.bias_by_group(ranked_for_groups, pooled, "module_type")], ignore_index=True)
    modules = bias.module_agreement(tables.ablations, tables.triplet_scores)
    if not modules.empty:
        modules = modules.merge(labels, on=["run", "step"], how="left")

    return Analysis(
        tables=tables,
        reference=reference,
        accuracy=accuracy.accuracy_summary(finished),
        differences=differences,
        tests=accuracy.paired_tests(differences),
        final_patterns=stability.final_rank_patterns(tables.rank_patterns),
        seed_pairs=seed_pairs,
        rank_variation=variation,
        allocation_changes=changes,
        settling=settling,
        stability=stability.stability_summary(seed_pairs, variation, changes, settling),
        checkpoint_labels=labels,
        ranked=ranked,
        agreement=agreement.merge(labels, on=["run", "step"], how="left") if not agreement.empty else agreement,
        module_agreement=modules,
        bias=bias.bias_summary(agreement, labels),
        bias_by_layer=by_layer,
        bias_by_module_type=by_type,
        cost=cost.cost_summary(finished, reference),
    )
