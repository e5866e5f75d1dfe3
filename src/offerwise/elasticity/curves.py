"""Counterfactual response curves: re-score the model with the scored period's offer set to each
value of a grid, everything else fixed, giving every consumer-item its own curve."""

from __future__ import annotations

import numpy as np

from offerwise.columns import OFFER
from offerwise.model.tcn import TCNModel
from offerwise.model.tensors import SequenceTensors
from offerwise.probability import clipped_logit


def response_curves(
    model: TCNModel, data: SequenceTensors, column: int, grid: np.ndarray, scored: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """((P, len(scored)) probabilities at period indices `scored` as observed, (P, G) probabilities at
    period index `column` with the offer input set to each grid value), from one pass.

    The network is causal, so only the scored period's own offer input changes, and only that
    period's activations are recomputed (TCNNetwork.column_logits).
    """
    if OFFER not in model.encoders.temporal_continuous:
        raise ValueError(f"The model has no '{OFFER}' input; it cannot be re-scored at other offers.")
    return model.predict_columns(data, scored, varied=[(column, model.offer_variants(data, column, grid))])


def pair_slopes(curves: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Least-squares slope of logit(p) on offer % per pair: the pair's own `a`."""
    z = clipped_logit(curves)
    x = grid - grid.mean()
    return (z - z.mean(axis=1, keepdims=True)) @ x / (x @ x)


def at_offer(curves: np.ndarray, grid: np.ndarray, offers: np.ndarray) -> np.ndarray:
    """Each pair's curve evaluated (linearly interpolated) at its own offer."""
    idx = np.clip(np.searchsorted(grid, offers) - 1, 0, grid.size - 2)
    w = np.clip((offers - grid[idx]) / (grid[idx + 1] - grid[idx]), 0, 1)
    rows = np.arange(curves.shape[0])
    return (1 - w) * curves[rows, idx] + w * curves[rows, idx + 1]
