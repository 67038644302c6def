"""Figures of the report, each a function from analysis tables to a matplotlib Figure."""

from .accuracy import accuracy_figure
from .bias import bias_agreement_figure, bias_group_figure, bias_scatter_figure
from .common import PAGE_SIZE, empty_figure, scorer_palette, set_report_style, text_figure, text_pages
from .cost import cost_figure
from .ranks import final_rank_matrix, rank_heatmap_figure
from .stability import seed_stability_figure, time_stability_figure
from .training import budget_and_loss_figure

__all__ = [
    "PAGE_SIZE", "accuracy_figure", "bias_agreement_figure", "bias_group_figure", "bias_scatter_figure",
    "budget_and_loss_figure", "cost_figure", "empty_figure", "final_rank_matrix", "rank_heatmap_figure",
    "scorer_palette", "seed_stability_figure", "set_report_style", "text_figure", "text_pages", "time_stability_figure",
]
