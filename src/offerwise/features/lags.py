"""Lagged offsets: rolling mean, median, variance, skewness and kurtosis over the last w periods."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

STATS = ("mean", "median", "var", "skew", "kurt")


def rolling_stats(values: np.ndarray, window: int, *, chunk: int = 200_000) -> dict[str, np.ndarray]:
    """(N, T) -> stat -> (N, T); column t summarises columns t-window .. t-1 (fewer at the start).

    Constant windows have skew and kurtosis 0; windows with no observation give NaN.
    """
    out = {s: np.empty(values.shape, dtype=np.float32) for s in STATS}
    for lo in range(0, values.shape[0], chunk):
        part = _window_stats(values[lo : lo + chunk].astype(np.float64), window)
        for s in STATS:
            out[s][lo : lo + chunk] = part[s]
    return out


def _window_stats(values: np.ndarray, window: int) -> dict[str, np.ndarray]:
    n_rows, T = values.shape
    padded = np.full((n_rows, T + window), np.nan)
    padded[:, window:] = values
    win = sliding_window_view(padded, window, axis=1)[:, :T]  # (N, T, w): periods t-w .. t-1
    count = np.sum(~np.isnan(win), axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(win, axis=2) / count
        dev = win - mean[..., None]
        m2 = np.nansum(dev**2, axis=2) / count
        m3 = np.nansum(dev**3, axis=2) / count
        m4 = np.nansum(dev**4, axis=2) / count
        flat = m2 <= 1e-12
        skew = np.where(flat, 0.0, m3 / m2**1.5)
        kurt = np.where(flat, 0.0, m4 / m2**2 - 3.0)
        var = np.where(count > 1, m2 * count / (count - 1), 0.0)
    empty = count == 0
    median = np.full(mean.shape, np.nan)
    if (~empty).any():
        median[~empty] = np.nanmedian(win[~empty], axis=1)
    return {
        "mean": np.where(empty, np.nan, mean),
        "median": median,
        "var": np.where(empty, np.nan, var),
        "skew": np.where(empty, np.nan, skew),
        "kurt": np.where(empty, np.nan, kurt),
    }
