"""The headline table and one sentence per finding, computed from the analysis tables."""

from __future__ import annotations

import pandas as pd

from .analysis import Analysis

MIN_GROUP_TRIPLETS = 5
HEADLINE_COLUMNS = [
    "scorer", "seeds", "task", "main_metric", "mean", "std", "ci_low", "ci_high", "difference_to_reference",
    "wilcoxon_p", "sign_test_p", "seed_spearman", "mean_excess_flip_fraction", "final_bias_spearman",
    "final_top_k_overlap", "seconds_per_step", "seconds_per_step_ratio", "adapter_parameters",
    "trainable_parameters",
]


def headline_table(analysis: Analysis) -> pd.DataFrame:
    """Return one row per task and scorer with the main number of every section."""
    summary = analysis.accuracy
    if summary.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    table = summary.copy()
    keys = ["task", "scorer"]
    tests = analysis.tests.rename(columns={"mean_difference": "difference_to_reference"})
    table = table.merge(tests[keys + ["difference_to_reference", "wilcoxon_p", "sign_test_p"]], on=keys, how="left")
    stability = analysis.stability
    for column, source in (("seed_spearman", "seed_spearman"), ("mean_excess_flip_fraction", "mean_excess_flip_fraction")):
        if source in stability:
            table = table.merge(stability[keys + [source]], on=keys, how="left")
        else:
            table[column] = float("nan")
    final_bias = analysis.bias[analysis.bias["step_label"] == "final"] if not analysis.bias.empty else analysis.bias
    final_bias = final_bias.rename(columns={"mean_spearman": "final_bias_spearman",
                                            "mean_top_k_overlap": "final_top_k_overlap"})
    table = table.merge(final_bias[keys + ["final_bias_spearman", "final_top_k_overlap"]], on=keys, how="left")
    cost = analysis.cost.rename(columns={"mean_seconds_per_step": "seconds_per_step"})
    table = table.merge(cost[keys + ["seconds_per_step", "seconds_per_step_ratio"]], on=keys, how="left")
    return table[HEADLINE_COLUMNS]


def _number(value: float, digits: int = 4) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def missing_runs(analysis: Analysis) -> list[str]:
    """Return one line per run that the report leaves out, with its status and error."""
    lines = []
    for row in analysis.tables.unfinished.itertuples():
        seed = "?" if pd.isna(row.seed) else int(row.seed)
        error = getattr(row, "error", None)
        detail = f" ({error})" if isinstance(error, str) else ""
        lines.append(f"{row.scorer} seed {seed}: {row.status}{detail} [{row.run}]")
    return lines


def _accuracy_findings(analysis: Analysis) -> list[str]:
    sentences = []
    for task, summary in analysis.accuracy.groupby("task"):
        best = summary.sort_values("mean", ascending=False).iloc[0]
        tied = summary[summary["mean"] == best["mean"]]["scorer"].tolist()
        if len(tied) > 1:
            sentences.append(f"On {task}, {', '.join(tied)} tie at the highest mean {best['main_metric']}: "
                             f"{_number(best['mean'])}.")
        else:
            sentences.append(
                f"On {task}, {best['scorer']} has the highest mean {best['main_metric']}: {_number(best['mean'])} "
                f"(95% bootstrap interval {_number(best['ci_low'])} to {_number(best['ci_high'])}, "
                f"{int(best['seeds'])} seed(s))."
            )
        tests = analysis.tests[analysis.tests["task"] == task]
        for test in tests.itertuples():
            significant = "significant" if pd.notna(test.wilcoxon_p) and test.wilcoxon_p < 0.05 else "not significant"
            sentences.append(
                f"{test.scorer} minus {test.reference} on {task}: {test.mean_difference:+.4f} on average over "
                f"{test.pairs} paired seed(s) ({test.wins} higher, {test.losses} lower); Wilcoxon p = "
                f"{_number(test.wilcoxon_p, 3)}, sign test p = {_number(test.sign_test_p, 3)}, {significant} at 0.05."
            )
    if not analysis.accuracy.empty and analysis.tests.empty:
        sentences.append(f"No paired test: the reference scorer {analysis.reference!r} has no finished run "
                         "with a seed that another scorer also finished.")
    return sentences


def _extremes(table: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series] | None:
    values = table.dropna(subset=[column]) if column in table else table.iloc[0:0]
    if values.empty:
        return None
    ordered = values.sort_values(column)
    return ordered.iloc[-1], ordered.iloc[0]


def _stability_findings(analysis: Analysis) -> list[str]:
    sentences = []
    extremes = _extremes(analysis.stability, "seed_spearman")
    if extremes is not None:
        high, low = extremes
        if high["scorer"] == low["scorer"]:
            sentences.append(f"Across seeds, {high['scorer']}'s final rank patterns have a mean Spearman ρ of "
                             f"{high['seed_spearman']:.2f} between seeds.")
        else:
            sentences.append(
                f"Across seeds, {high['scorer']} gives the most similar final rank patterns (mean Spearman ρ "
                f"{high['seed_spearman']:.2f} between seeds) and {low['scorer']} the least "
                f"({low['seed_spearman']:.2f})."
            )
    else:
        sentences.append("Stability across seeds needs two or more finished seeds of a scorer.")
    extremes = _extremes(analysis.stability, "mean_excess_flip_fraction")
    if extremes is not None:
        high, low = extremes
        if high["scorer"] == low["scorer"]:
            sentences.append(f"Over time, {low['scorer']} flips {100 * low['mean_excess_flip_fraction']:.1f}% of "
                             "the triplets per allocation beyond what the shrinking budget forces.")
        elif high["mean_excess_flip_fraction"] == low["mean_excess_flip_fraction"]:
            sentences.append(
                f"Over time, every scorer flips {100 * low['mean_excess_flip_fraction']:.1f}% of the triplets per "
                "allocation beyond what the shrinking budget forces (with hard masks a pruned triplet gets no "
                "gradient, so it is rarely kept again)."
            )
        else:
            sentences.append(
                f"Over time, {low['scorer']} flips the fewest masks beyond what the shrinking budget forces "
                f"({100 * low['mean_excess_flip_fraction']:.1f}% of triplets per allocation) and {high['scorer']} "
                f"the most ({100 * high['mean_excess_flip_fraction']:.1f}%)."
            )
    extremes = _extremes(analysis.stability, "mean_score_kendall")
    if extremes is not None and extremes[0]["scorer"] != extremes[1]["scorer"]:
        high, low = extremes
        sentences.append(
            f"Between consecutive allocations, {high['scorer']} reorders its triplet scores the least (mean "
            f"Kendall τ {high['mean_score_kendall']:.2f}) and {low['scorer']} the most ({low['mean_score_kendall']:.2f})."
        )
    return sentences


def _bias_findings(analysis: Analysis) -> list[str]:
    if analysis.bias.empty:
        return ["No ablation ground truth was recorded, so the bias section is empty."]
    sentences = []
    final = analysis.bias[analysis.bias["step_label"] == "final"]
    extremes = _extremes(final, "mean_spearman")
    if extremes is not None:
        high, low = extremes
        best = (f"(mean Spearman ρ {high['mean_spearman']:.2f}, top-k overlap {high['mean_top_k_overlap']:.2f} "
                f"against {high['mean_chance_overlap']:.2f} by chance)")
        if high["scorer"] == low["scorer"]:
            sentences.append(f"At the final checkpoint, {high['scorer']}'s scores agree with the ablation ground "
                             f"truth {best}.")
        else:
            sentences.append(f"At the final checkpoint, {high['scorer']}'s scores agree best with the ablation "
                             f"ground truth {best} and {low['scorer']}'s least (ρ {low['mean_spearman']:.2f}).")
    groups = []
    for table, kind in ((analysis.bias_by_layer, "layer"), (analysis.bias_by_module_type, "module type")):
        pooled = table[table["step_label"] == "all checkpoints"]
        # A group of a few triplets swings widely, so it only counts when no larger group exists.
        large = pooled[pooled["triplets"] >= MIN_GROUP_TRIPLETS]
        pooled = large if not large.empty else pooled
        if not pooled.empty:
            row = pooled.loc[pooled["mean_signed_difference"].abs().idxmax()]
            groups.append((abs(row["mean_signed_difference"]), kind, row))
    if groups:
        _, kind, row = max(groups, key=lambda item: item[0])
        direction = "overrates" if row["mean_signed_difference"] > 0 else "underrates"
        sentences.append(
            f"The largest systematic bias: {row['scorer']} {direction} {kind} {row['group']} by "
            f"{row['mean_signed_difference']:+.2f} in normalized rank ({int(row['triplets'])} triplet(s))."
        )
    return sentences


def _cost_findings(analysis: Analysis) -> list[str]:
    cost = analysis.cost.dropna(subset=["seconds_per_step_ratio"])
    if cost.empty:
        return [f"No cost ratios: the reference scorer {analysis.reference!r} has no finished run."]
    others = cost[cost["scorer"] != analysis.reference]
    if others.empty:
        return []
    row = others.sort_values("seconds_per_step_ratio").iloc[-1]
    return [
        f"Relative to {analysis.reference}, {row['scorer']} takes the most seconds per step "
        f"({row['seconds_per_step_ratio']:.2f}×) and runs {row['mean_extra_passes_per_step']:.2f} extra passes "
        "per step."
    ]


def findings(analysis: Analysis) -> list[str]:
    """Return one sentence per finding, every number taken from the analysis tables."""
    runs = analysis.tables.runs
    finished = analysis.tables.finished
    sentences = [f"{len(finished)} of {len(runs)} runs finished."]
    missing = missing_runs(analysis)
    if missing:
        names = "; ".join(line.split(" [")[0] for line in missing)
        sentences.append(f"Left out of every analysis: {names}.")
    return (sentences + _accuracy_findings(analysis) + _stability_findings(analysis) + _bias_findings(analysis)
            + _cost_findings(analysis))
