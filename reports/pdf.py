"""Build report.pdf, report.md and CSV tables from run folders.

Entry point of the ``igu_suite.reports`` group under the name ``pdf``; ``compare`` and
``igu-suite report`` call :func:`build_report`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from .figures import (  # noqa: E402
    PAGE_SIZE,
    accuracy_figure,
    budget_and_loss_figure,
    rank_heatmap_figure,
    scorer_palette,
    time_figure,
)
from .load import RunTables, load_runs  # noqa: E402

logger = logging.getLogger(__name__)


def headline_table(tables: RunTables) -> pd.DataFrame:
    """Per scorer: finished seeds, mean and std of the main metric, parameters and time per step."""
    finished = tables.finished
    if finished.empty:
        return pd.DataFrame(columns=["scorer", "seeds", "mean", "std", "trainable_parameters", "seconds_per_step"])
    grouped = finished.groupby("scorer")
    table = pd.DataFrame({
        "seeds": grouped["seed"].count(),
        "mean": grouped["main_value"].mean(),
        "std": grouped["main_value"].std(ddof=1),
        "trainable_parameters": grouped["trainable_parameters"].mean(),
        "seconds_per_step": grouped["seconds_per_step"].mean(),
    }).reset_index()
    return table


def _format_headline(table: pd.DataFrame, metric: str) -> str:
    lines = [f"| scorer | seeds | {metric} mean ± std | trainable parameters | s / step |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        std = "n/a" if pd.isna(row.std) else f"{row.std:.4f}"
        lines.append(
            f"| {row.scorer} | {row.seeds} | {row.mean:.4f} ± {std} | {row.trainable_parameters:,.0f} | "
            f"{row.seconds_per_step:.3f} |"
        )
    return "\n".join(lines)


def _missing_lines(tables: RunTables) -> list[str]:
    return [
        f"{row.scorer} seed {row.seed}: {row.status}" + (f" ({row.error})" if isinstance(getattr(row, 'error', None), str) else "")
        for row in tables.unfinished.itertuples()
    ]


def title_figure(tables: RunTables, headline: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=PAGE_SIZE)
    axis.axis("off")
    finished = tables.finished
    task = ", ".join(sorted(tables.runs["task"].dropna().astype(str).unique())) or "unknown task"
    metric = finished["main_metric"].iloc[0] if not finished.empty else "metric"
    lines = [
        "igu-suite: importance scorers for adaptive-rank LoRA",
        "",
        f"Task: {task}.   Scorers: {', '.join(tables.scorers)}.   Runs finished: {len(finished)} of {len(tables.runs)}.",
        "",
    ]
    for row in headline.itertuples():
        std = "n/a" if pd.isna(row.std) else f"{row.std:.4f}"
        lines.append(f"{row.scorer:>14}:  {metric} {row.mean:.4f} ± {std} over {row.seeds} seed(s), "
                     f"{row.seconds_per_step:.3f} s/step, {row.trainable_parameters:,.0f} trainable parameters")
    missing = _missing_lines(tables)
    if missing:
        lines += ["", "Runs not included (not finished):"] + [f"  {line}" for line in missing]
    axis.text(0.02, 0.98, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=10)
    return figure


def _write_pdf(path: Path, figures: list[plt.Figure]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with PdfPages(temporary) as pdf:
            for figure in figures:
                pdf.savefig(figure)
                plt.close(figure)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_text(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


def build_report(paths: list[Path], output_dir: Path, reference: str = "adalora") -> dict[str, Path]:
    """Write report.pdf, report.md and headline.csv for the runs under ``paths`` into ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tables = load_runs(paths)
    sns.set_theme(style="whitegrid", context="paper")
    palette = scorer_palette(tables.scorers)
    headline = headline_table(tables)
    metric = tables.finished["main_metric"].iloc[0] if not tables.finished.empty else "metric"

    figures = [
        title_figure(tables, headline),
        accuracy_figure(tables.finished, palette),
        rank_heatmap_figure(tables.rank_patterns, tables.scorers),
        budget_and_loss_figure(tables.train_logs, palette),
        time_figure(tables.finished, palette),
    ]
    pdf_path = output_dir / "report.pdf"
    _write_pdf(pdf_path, figures)

    headline_path = output_dir / "headline.csv"
    _write_text(headline_path, headline.to_csv(index=False))
    markdown = ["# igu-suite report", "", _format_headline(headline, metric)]
    missing = _missing_lines(tables)
    if missing:
        markdown += ["", "Runs not included:", ""] + [f"- {line}" for line in missing]
    markdown_path = output_dir / "report.md"
    _write_text(markdown_path, "\n".join(markdown) + "\n")
    logger.info("Report written to %s", pdf_path)
    return {"report": pdf_path, "markdown": markdown_path}
