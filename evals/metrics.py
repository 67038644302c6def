"""Official GLUE metrics, by name. A new metric is one function plus its registration."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

MetricFunction = Callable[[np.ndarray, np.ndarray], float]
METRICS: dict[str, MetricFunction] = {}


def register_metric(name: str) -> Callable[[MetricFunction], MetricFunction]:
    def wrap(function: MetricFunction) -> MetricFunction:
        if name in METRICS:
            raise ValueError(f"A metric named {name!r} is already registered.")
        METRICS[name] = function
        return function

    return wrap


@register_metric("accuracy")
def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(accuracy_score(labels, predictions))


@register_metric("mcc")
def matthews_correlation(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation coefficient, CoLA's official metric."""
    return float(matthews_corrcoef(labels, predictions))


@register_metric("f1")
def f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    return float(f1_score(labels, predictions, pos_label=1))


@register_metric("pearson")
def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(pearsonr(predictions, labels)[0])


@register_metric("spearman")
def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(spearmanr(predictions, labels)[0])


def compute_metrics(names: list[str], predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {name: METRICS[name](predictions, labels) for name in names}
