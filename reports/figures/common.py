"""Page size, colours and text pages shared by every figure of the report."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # reports are files; no display is needed or assumed

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

PAGE_SIZE = (11.0, 8.5)  # inches, US letter landscape
TEXT_LINES_PER_PAGE = 52
TEXT_COLUMNS = 150  # characters of 8-point monospace that fit the page width


def set_report_style() -> None:
    """Apply the seaborn theme of the report: white grid, fonts sized for print."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)


def scorer_palette(scorers: list[str]) -> dict[str, tuple[float, float, float]]:
    """Return one fixed colour per scorer, the same on every page."""
    colours = sns.color_palette("colorblind", n_colors=max(len(scorers), 1))
    return {scorer: colours[index % len(colours)] for index, scorer in enumerate(sorted(scorers))}


def empty_figure(title: str, message: str) -> plt.Figure:
    """Return a page with a title and a message, for a section without data."""
    figure, axis = plt.subplots(figsize=PAGE_SIZE)
    axis.axis("off")
    axis.set_title(title, fontsize=14)
    axis.text(0.5, 0.5, textwrap.fill(message, 100), ha="center", va="center", fontsize=12)
    return figure


def text_pages(title: str, lines: list[str], fontsize: float = 8.0) -> list[plt.Figure]:
    """Return as many pages as ``lines`` need, in monospace, long lines wrapped."""
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, TEXT_COLUMNS, subsequent_indent="    ") or [""]
    pages = [wrapped[start : start + TEXT_LINES_PER_PAGE] for start in range(0, len(wrapped), TEXT_LINES_PER_PAGE)]
    figures = []
    for number, page in enumerate(pages or [[]], start=1):
        suffix = f" ({number} of {len(pages)})" if len(pages) > 1 else ""
        figures.append(text_figure(title + suffix, page, fontsize))
    return figures


def text_figure(title: str, lines: list[str], fontsize: float) -> plt.Figure:
    """Return one page of monospace text that uses the whole page width."""
    figure = plt.figure(figsize=PAGE_SIZE)
    figure.text(0.04, 0.95, title, fontsize=14, va="top", ha="left")
    figure.text(0.04, 0.90, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=fontsize)
    return figure
