"""The budget schedule and the training loss against the optimizer step."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .common import PAGE_SIZE, empty_figure


def budget_and_loss_figure(train_logs: pd.DataFrame, palette: dict) -> plt.Figure:
    """Budget b(t) and training loss (50-step moving mean) against the optimizer step."""
    if train_logs.empty:
        return empty_figure("Budget and loss", "No training logs.")
    figure, (budget_axis, loss_axis) = plt.subplots(1, 2, figsize=PAGE_SIZE)
    first_run = train_logs[train_logs["run"] == train_logs["run"].iloc[0]]
    budget_axis.plot(first_run["step"], first_run["budget"], color="black")
    budget_axis.set_xlabel("optimizer step")
    budget_axis.set_ylabel("budget b(t) (triplets)")
    budget_axis.set_title("Budget schedule")
    for scorer, group in train_logs.groupby("scorer"):
        mean_loss = group.groupby("step")["loss"].mean().rolling(50, min_periods=1).mean()
        loss_axis.plot(mean_loss.index, mean_loss.values, color=palette[scorer], label=scorer)
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("training loss (nats; mean over seeds, 50-step moving mean)")
    loss_axis.set_title("Training loss")
    loss_axis.legend(title="scorer")
    figure.tight_layout()
    return figure
