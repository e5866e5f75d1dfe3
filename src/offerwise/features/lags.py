"""Lagged offsets: rolling mean, median, variance, skewness and kurtosis over the last w periods.

Moments come from windowed power sums (cumulative sums along time), so the cost is O(N * T) per
statistic whatever the window; only the median sorts the windows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

STATS = ("mean", "median", "var", "skew", "kurt")


def rolling_stats(values: np.ndarray, window: int) -> dict[str, np.ndarray]:
    """(N, T) -> stat -> (N, T); column t summarises columns t-window .. t-1 (fewer at the start).

    Column 0 has no past: every statistic is NaN there. Constant windows have skew and kurtosis 0;
    variance uses n - 1 (0 for a single observation).
    """
    x = values.astype(np.float64)
    n_rows, T = x.shape
    count = np.minimum(np.arange(T), window).astype(np.float64)[None, :]  # observations in each window
    sums = [_window_sum(x**k, window) for k in (1, 2, 3, 4)]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums[0] / count
        r2, r3, r4 = (s / count for s in sums[1:])
        m2 = np.maximum(r2 - mean**2, 0.0)
        m3 = r3 - 3 * mean * r2 + 2 * mean**3
        m4 = r4 - 4 * mean * r3 + 6 * mean**2 * r2 - 3 * mean**4
        flat = m2 <= 1e-9 * np.maximum(1.0, mean**2)
        out = {
            "mean": mean,
            "median": _window_median(x, window),
            "var": np.where(count > 1, m2 * count / np.maximum(count - 1, 1), 0.0),
            "skew": np.where(flat, 0.0, m3 / m2**1.5),
            "kurt": np.where(flat, 0.0, m4 / m2**2 - 3.0),
        }
    for stat in out.values():
        stat[:, 0] = np.nan
    return {k: v.astype(np.float32) for k, v in out.items()}


def _window_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of columns t-window .. t-1 for each t."""
    csum = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=csum[:, 1:])
    t = np.arange(x.shape[1])
    return csum[:, t] - csum[:, np.maximum(t - window, 0)]


def _window_median(x: np.ndarray, window: int) -> np.ndarray:
    n_rows, T = x.shape
    out = np.full((n_rows, T), np.nan)
    for t in range(1, min(window, T)):  # the first windows are shorter
        out[:, t] = np.median(x[:, :t], axis=1)
    if T > window:
        full = np.sort(sliding_window_view(x.astype(np.float32), window, axis=1)[:, : T - window], axis=2)
        mid = window // 2
        med = full[..., mid] if window % 2 else (full[..., mid - 1] + full[..., mid]) / 2
        out[:, window:] = med
    return out
