"""Build report.pdf, report.md and CSV tables from run folders.

Entry point of the ``igu_suite.reports`` group under the name ``pdf``; ``compare`` and
``igu-suite report`` call :func:`build_report`. The pages, in order:

- title: the experiment, the headline table, the findings and the runs left out;
- accuracy; mean and across-seed std of the final rank patterns;
- stability across seeds and over time; budget and loss;
- scores against the ablation ground truth: scatter, agreement, bias by layer and module type;
- cost; configs, seeds, package versions and data-file hashes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from igu_suite.runfolder import write_text_atomic  # noqa: E402

from . import figures  # noqa: E402
from .analysis import Analysis, analyze  # noqa: E402
from .findings import findings, headline_table, missing_runs  # noqa: E402
from .load import load_runs  # noqa: E402

logger = logging.getLogger(__name__)

# Config fields that differ between runs by design; the seeds section lists them instead.
SKIPPED_CONFIG_KEYS = ("seed", "scorer.name")


def _format_headline_markdown(headline: pd.DataFrame) -> str:
    lines = ["| scorer | seeds | task | mean ± std | 95% interval | Δ to reference (Wilcoxon p) | seed ρ | "
             "bias ρ (final) | s / step (ratio) | adapter parameters | trainable parameters |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in headline.itertuples():
        lines.append(
            f"| {row.scorer} | {row.seeds} | {row.task} | {_plain(row.mean)} ± {_plain(row.std)} | "
            f"{_plain(row.ci_low)} to {_plain(row.ci_high)} | {_signed(row.difference_to_reference)} "
            f"({_plain(row.wilcoxon_p, 3)}) | {_plain(row.seed_spearman, 2)} | {_plain(row.final_bias_spearman, 2)} | "
            f"{_plain(row.seconds_per_step, 3)} ({_plain(row.seconds_per_step_ratio, 2)}) | "
            f"{_plain(row.adapter_parameters, 0)} | {_plain(row.trainable_parameters, 0)} |"
        )
    return "\n".join(lines)


def _plain(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _signed(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:+.{digits}f}"


def _headline_lines(headline: pd.DataFrame, reference: str) -> list[str]:
    header = (f"{'scorer':<14}{'seeds':>6}  {'mean ± std':<18}{'95% interval':<18}{'Δ ' + reference + ' (p)':<22}"
              f"{'seed ρ':>8}{'flips':>8}{'bias ρ':>8}{'top-k':>7}{'s/step':>9}{'ratio':>7}{'adapter par.':>13}")
    lines = [header, "-" * len(header)]
    for row in headline.itertuples():
        flips = "n/a" if pd.isna(row.mean_excess_flip_fraction) else f"{100 * row.mean_excess_flip_fraction:.1f}%"
        lines.append(
            f"{row.scorer:<14}{row.seeds:>6}  {_plain(row.mean) + ' ± ' + _plain(row.std):<18}"
            f"{_plain(row.ci_low) + '-' + _plain(row.ci_high):<18}"
            f"{_signed(row.difference_to_reference) + ' (' + _plain(row.wilcoxon_p, 2) + ')':<22}"
            f"{_plain(row.seed_spearman, 2):>8}{flips:>8}{_plain(row.final_bias_spearman, 2):>8}"
            f"{_plain(row.final_top_k_overlap, 2):>7}{_plain(row.seconds_per_step, 3):>9}"
            f"{_plain(row.seconds_per_step_ratio, 2):>7}{_plain(row.adapter_parameters, 0):>13}"
        )
    return lines


def title_figure(analysis: Analysis, headline: pd.DataFrame, sentences: list[str]) -> plt.Figure:
    """Return the first page: the experiment, the headline table, the findings and the missing runs."""
    tables = analysis.tables
    presets = sorted({str(config.get("preset")) for config in tables.configs.values()})
    models = sorted({str(config.get("model")) for config in tables.configs.values()})
    seeds = sorted({int(seed) for seed in tables.runs["seed"].dropna()})
    lines = [
        f"Task: {', '.join(tables.tasks) or 'unknown'}.  Model: {', '.join(models) or 'unknown'}.  "
        f"Preset: {', '.join(presets) or 'unknown'}.",
        f"Scorers: {', '.join(tables.scorers)}.  Seeds: {', '.join(map(str, seeds))}.  Reference: {analysis.reference}.",
        "",
        *_headline_lines(headline, analysis.reference),
        "",
        "Columns: main metric on the evaluation split; Δ: mean paired difference to the reference with its Wilcoxon p;",
        "seed ρ: Spearman ρ of final module ranks between seeds; flips: mask flips beyond the budget's per allocation;",
        "bias ρ, top-k: Spearman ρ and top-25% overlap of scores with the ablation ground truth at the final checkpoint;",
        "adapter par.: parameters of the final adapters' kept triplets, r (d_in + d_out + 1) summed over modules.",
        "",
        "Findings:",
    ]
    for sentence in sentences:
        lines += textwrap.wrap(sentence, 125, initial_indent="- ", subsequent_indent="  ")
    # The headline and the findings stay on one page, so a long page gets a smaller font.
    fontsize = 9.0 if len(lines) <= 48 else max(5.0, 9.0 * 48 / len(lines))
    return figures.text_figure("igu-suite report: importance scorers for adaptive-rank LoRA", lines, fontsize)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def provenance_lines(analysis: Analysis) -> list[str]:
    """Return the lines of the last pages: seeds, configs, package versions, data hashes, ablation cost."""
    tables = analysis.tables
    lines = ["Seeds per scorer:"]
    for scorer, runs in tables.runs.groupby("scorer"):
        states = ", ".join(f"{'?' if pd.isna(r.seed) else int(r.seed)} ({r.status})" for r in runs.itertuples())
        lines.append(f"  {scorer}: {states}")
    missing = missing_runs(analysis)
    if missing:
        lines += ["", "Runs left out:"] + [f"  {line}" for line in missing]

    flat_configs = {run: _flatten(config) for run, config in tables.configs.items()}
    if flat_configs:
        keys = sorted(set().union(*flat_configs.values()))
        varying = {key for key in keys if len({json.dumps(c.get(key), default=str) for c in flat_configs.values()}) > 1}
        first_run = next(iter(flat_configs))
        lines += ["", f"Config (of {first_run}; fields that differ between runs are listed after it):"]
        for key in keys:
            if key not in varying and key not in SKIPPED_CONFIG_KEYS:
                lines.append(f"  {key} = {json.dumps(flat_configs[first_run].get(key), default=str)}")
        for key in sorted(varying - set(SKIPPED_CONFIG_KEYS)):
            values = sorted({json.dumps(c.get(key), default=str) for c in flat_configs.values()})
            lines.append(f"  {key} differs between runs: {', '.join(values)}")

    environments = tables.environments
    if environments:
        versions: dict[str, set[str]] = {}
        hashes: dict[str, set[str]] = {}
        devices = set()
        for environment in environments.values():
            for package, version in environment.get("packages", {}).items():
                versions.setdefault(package, set()).add(str(version))
            for path, digest in environment.get("data_files", {}).items():
                hashes.setdefault(path, set()).add(digest)
            devices.add(f"{environment.get('device')} ({environment.get('platform')}, python {environment.get('python')})")
        lines += ["", "Devices: " + "; ".join(sorted(devices)), "", "Package versions:"]
        lines += [f"  {package} {', '.join(sorted(found))}" for package, found in sorted(versions.items())]
        lines += ["", "Data files (sha256):"]
        for path, digests in sorted(hashes.items()):
            note = "  DIFFERS BETWEEN RUNS" if len(digests) > 1 else ""
            lines.append(f"  {path}: {', '.join(sorted(digests))}{note}")

    checkpoints = tables.ablation_checkpoints
    if not checkpoints.empty:
        per_run = checkpoints.groupby("run")[["seconds", "forward_passes"]].sum()
        lines += ["", "Ablation ground truth (not included in the cost page): "
                  f"{len(checkpoints)} checkpoints in {len(per_run)} runs, {per_run['seconds'].mean():.1f} s and "
                  f"{per_run['forward_passes'].mean():.0f} forward passes per run on average."]
    return lines


def _safe_page(name: str, build: Callable[[], plt.Figure]) -> plt.Figure:
    """Build one page; a page that raises becomes an error page, so the rest of the report still builds."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - one broken page must not lose the whole report
        logger.exception("The report page %r failed", name)
        return figures.empty_figure(name, f"This page failed to build: {type(error).__name__}: {error}")


def build_pages(analysis: Analysis, headline: pd.DataFrame, sentences: list[str]) -> list[plt.Figure]:
    tables = analysis.tables
    finished = tables.finished
    palette = figures.scorer_palette(tables.scorers)
    scorers = sorted(finished["scorer"].unique()) if not finished.empty else []
    reference = analysis.reference
    pages = [
        ("Title", lambda: title_figure(analysis, headline, sentences)),
        ("Accuracy", lambda: figures.accuracy_figure(finished, analysis.accuracy, analysis.differences,
                                                     analysis.tests, palette, reference)),
        ("Mean rank pattern", lambda: figures.rank_heatmap_figure(analysis.final_patterns, scorers, "mean")),
        ("Rank pattern std", lambda: figures.rank_heatmap_figure(analysis.final_patterns, scorers, "std")),
        ("Stability across seeds", lambda: figures.seed_stability_figure(analysis.seed_pairs, analysis.rank_variation,
                                                                         palette)),
        ("Stability over time", lambda: figures.time_stability_figure(analysis.allocation_changes, analysis.settling,
                                                                      palette)),
        ("Budget and loss", lambda: figures.budget_and_loss_figure(tables.train_logs, palette)),
        ("Scores vs ablation", lambda: figures.bias_scatter_figure(analysis.ranked, analysis.agreement, palette)),
        ("Agreement with ablation", lambda: figures.bias_agreement_figure(analysis.agreement,
                                                                          analysis.module_agreement, palette)),
        ("Bias by group", lambda: figures.bias_group_figure(
            analysis.bias_by_layer[analysis.bias_by_layer["step_label"] == "all checkpoints"],
            analysis.bias_by_module_type[analysis.bias_by_module_type["step_label"] == "all checkpoints"], palette)),
        ("Cost", lambda: figures.cost_figure(finished, analysis.cost, palette, reference)),
    ]
    built = [_safe_page(name, build) for name, build in pages]
    try:
        built += figures.text_pages("Configs, seeds, package versions and data files", provenance_lines(analysis))
    except Exception as error:  # noqa: BLE001 - see _safe_page
        logger.exception("The provenance pages failed")
        built.append(figures.empty_figure("Provenance", f"These pages failed to build: {error}"))
    return built


def _write_pdf(path: Path, pages: list[plt.Figure]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with PdfPages(temporary, metadata={"Title": "igu-suite report", "Creator": "igu-suite"}) as pdf:
            for page in pages:
                pdf.savefig(page)
                plt.close(page)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _markdown_section(title: str, table: pd.DataFrame) -> list[str]:
    if table.empty:
        return [f"## {title}", "", "No data.", ""]
    return [f"## {title}", "", table.to_markdown(index=False, floatfmt=".4g"), ""]


def report_markdown(analysis: Analysis, headline: pd.DataFrame, sentences: list[str], csv_names: list[str]) -> str:
    lines = ["# igu-suite report", "", _format_headline_markdown(headline), "", "## Findings", ""]
    lines += [f"- {sentence}" for sentence in sentences] + [""]
    missing = missing_runs(analysis)
    if missing:
        lines += ["## Runs not included", ""] + [f"- {line}" for line in missing] + [""]
    lines += _markdown_section("Accuracy", analysis.accuracy)
    lines += _markdown_section(f"Paired tests against {analysis.reference}", analysis.tests)
    lines += _markdown_section("Stability", analysis.stability)
    lines += _markdown_section("Agreement with the ablation ground truth", analysis.bias)
    lines += _markdown_section("Cost", analysis.cost)
    lines += ["## Tables", "", "CSV files next to this report: " + ", ".join(csv_names) + "."]
    return "\n".join(lines) + "\n"


def build_report(paths: list[Path], output_dir: Path, reference: str = "adalora") -> dict[str, Path]:
    """Write report.pdf, report.md, headline.csv and the analysis tables for the runs under ``paths``.

    Runs that failed, are still running or are missing are named on the first page and in
    report.md and left out of every analysis.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tables = load_runs(paths)
    figures.set_report_style()
    analysis = analyze(tables, reference)
    headline = headline_table(analysis)
    sentences = findings(analysis)

    written: dict[str, Path] = {}
    csv_tables = {"headline.csv": headline, **analysis.csv_tables()}
    for name, table in csv_tables.items():
        path = output_dir / name
        write_text_atomic(path, table.to_csv(index=False))
        written[name.removesuffix(".csv")] = path
    markdown_path = output_dir / "report.md"
    write_text_atomic(markdown_path, report_markdown(analysis, headline, sentences, list(csv_tables)))
    pdf_path = output_dir / "report.pdf"
    _write_pdf(pdf_path, build_pages(analysis, headline, sentences))
    logger.info("Report written to %s", pdf_path)
    return {"report": pdf_path, "markdown": markdown_path, **written}
