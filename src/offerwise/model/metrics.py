"""Classification metrics on probabilities (BCE, ROC-AUC, PR-AUC as average precision)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from offerwise.probability import clipped


def bce(y: np.ndarray, p: np.ndarray) -> float:
    p = clipped(p)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)  # ties get the mean rank: the Mann-Whitney U statistic
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-p, kind="stable")
    y_sorted, p_sorted = y[order], p[order]
    tp = np.cumsum(y_sorted)
    # Evaluate only at the last index of each tied score, as scikit-learn does.
    last = np.r_[np.flatnonzero(np.diff(p_sorted)), y.size - 1]
    precision = tp[last] / (last + 1)
    recall = tp[last] / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
