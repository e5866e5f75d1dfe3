"""Scoring a TCN at a few periods in one pass: the periods a decision or a loss needs, and variants
of one period's inputs (other offers, the inputs as decided), without re-scoring whole sequences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import torch

from offerwise.columns import OFFER
from offerwise.model.network import TCNNetwork
from offerwise.model.tensors import Encoders, SequenceTensors

Variants = Callable[[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]  # pair indices -> [(tc, tcat) of one period]
# Pairs scored per batch: a batch's activations then fit in the CPU's cache (512 pairs x ~110 inputs x
# 27 periods: 6 MB). On the Complete Journey's 191k pairs one scoring pass took 8 s, against 12-14 s at 4,096.
SCORING_BATCH = 512
# The offers (%) a decided period is re-scored at for its pairs' response curves (evaluate writes them for elasticity).
OFFER_GRID = np.arange(0.0, 61.0, 5.0)


@torch.no_grad()
def column_probabilities(
    net: TCNNetwork,
    data: SequenceTensors,
    columns: list[int],
    device: torch.device,
    *,
    rows: np.ndarray | None = None,
    varied: list[tuple[int, Variants]] = (),
    batch: int = SCORING_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, len(columns)) probabilities at period indices `columns`, and (rows, G) for each (column,
    variants) of `varied`: at that period index, for the variants of its inputs that `variants(pair
    indices)` gives, the columns' G side by side (TCNNetwork.column_logits)."""
    rows = np.arange(data.y.shape[0]) if rows is None else rows
    batch = batch if device.type == "cpu" else max(batch, 8192)  # the cache argument is the CPU's; a GPU wants large batches
    if rows.size == 0:
        return np.zeros((0, len(columns)), np.float32), np.zeros((0, 0), np.float32)
    stop = max(list(columns) + [at for at, _ in varied]) + 1  # later periods are never read
    was_training, observed, changed = net.training, [], []
    net.eval()
    for idx in np.array_split(rows, max(rows.size // batch, 1)):
        inputs = (torch.from_numpy(a[idx, :stop] if a.ndim == 3 else a[idx]).to(device) for a in (data.tc, data.tcat, data.sc, data.scat))
        batch_varied = [
            (at, [(torch.from_numpy(tc).to(device), torch.from_numpy(tcat).to(device)) for tc, tcat in variants(idx)])
            for at, variants in varied
        ]
        o, v = net.column_logits(*inputs, list(columns), batch_varied)
        observed.append(torch.sigmoid(o).cpu().numpy())
        changed.append(torch.sigmoid(v).cpu().numpy())
    net.train(was_training)
    return np.concatenate(observed).astype(np.float32), np.concatenate(changed).astype(np.float32)


def masked_probabilities(net: TCNNetwork, data: SequenceTensors, mask: np.ndarray, device: torch.device) -> np.ndarray:
    """Probabilities of the (P, T) mask's targets, flattened like data.y[mask]: only the pairs and
    periods the mask holds are scored (a validation loss needs one period of T)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0)).tolist()
    if rows.size == 0:
        return np.zeros(0, np.float32)
    return column_probabilities(net, data, columns, device, rows=rows)[0][mask[rows][:, columns]]


def offer_variants(encoders: Encoders, data: SequenceTensors, column: int, offers: np.ndarray) -> Variants:
    """Variants of period index `column`: its offer input set to each of `offers`, the rest as observed."""
    j = encoders.temporal_continuous.index(OFFER)
    scaled = pl.DataFrame({OFFER: np.asarray(offers, dtype=np.float64)}).select(encoders.scaled(OFFER)).to_series().to_numpy(writable=True)

    def variants(idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        tc, tcat = data.tc[idx, column], data.tcat[idx, column]
        out = []
        for value in scaled:
            changed = tc.copy()
            changed[:, j] = value
            out.append((changed, tcat))
        return out

    return variants
