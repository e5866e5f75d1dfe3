"""Profile features over dense (rows, periods) matrices. Every output at column t uses columns < t.

`events` is a boolean matrix (N, T): did the consumer / item / pair have an order in period t.
"""

from __future__ import annotations

import numpy as np

NEVER = np.nan  # undefined history (no order yet) is NaN here; the panel fills it (see manifest)


def shift_right(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """(N, T) -> (N, T): column t holds column t-1 of the input, so only the past is seen."""
    out = np.empty_like(values, dtype=np.float32)
    out[:, 0] = fill
    out[:, 1:] = values[:, :-1]
    return out


def count_before(events: np.ndarray) -> np.ndarray:
    return shift_right(np.cumsum(events, axis=1, dtype=np.float32), fill=0.0)


def _last_index_through(events: np.ndarray) -> np.ndarray:
    """(N, T): index of the last event at or before t, -1 if none."""
    idx = np.where(events, np.arange(events.shape[1], dtype=np.int32)[None, :], -1)
    return np.maximum.accumulate(idx, axis=1)


def last_before(events: np.ndarray) -> np.ndarray:
    """(N, T) int: index of the last event strictly before t, -1 if none."""
    last = _last_index_through(events)
    out = np.full_like(last, -1)
    out[:, 1:] = last[:, :-1]
    return out


def first_before(events: np.ndarray) -> np.ndarray:
    """(N, T) int: index of the first event strictly before t, -1 if none."""
    T = events.shape[1]
    first = np.where(events.any(axis=1), events.argmax(axis=1), T)[:, None]
    t = np.arange(T)[None, :]
    return np.where(first < t, first, -1).astype(np.int32)


def periods_since(index: np.ndarray) -> np.ndarray:
    t = np.arange(index.shape[1], dtype=np.float32)[None, :]
    return np.where(index >= 0, t - index, NEVER).astype(np.float32)


def gaps(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and last gap (in periods) between orders before t; NaN with fewer than two orders."""
    last = last_before(events)
    first = first_before(events)
    n = count_before(events)
    rows = np.arange(events.shape[0])[:, None]
    lb = last_before(events)
    second_last = np.where(last >= 0, lb[rows, np.maximum(last, 0)], -1)
    gap_last = np.where(second_last >= 0, last - second_last, NEVER).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_mean = np.where(n >= 2, (last - first) / (n - 1), NEVER).astype(np.float32)
    return gap_mean, gap_last


def streak_before(events: np.ndarray) -> np.ndarray:
    """Periods in a row with an order, ending at t-1."""
    run = np.zeros(events.shape, dtype=np.float32)
    for t in range(events.shape[1]):  # T is small (tens of periods); rows are vectorised
        run[:, t] = (run[:, t - 1] + 1) * events[:, t] if t else events[:, t]
    return shift_right(run, fill=0.0)


def rates(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder rate (reorders per period since the first order) and order frequency (orders per period)."""
    n = count_before(events)
    since_first = periods_since(first_before(events))
    t = np.arange(events.shape[1], dtype=np.float32)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        reorder = np.where(n >= 1, (n - 1) / since_first, 0.0).astype(np.float32)
        frequency = np.where(t > 0, n / np.maximum(t, 1), 0.0).astype(np.float32)
    return reorder, frequency


def expanding_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of values over periods before t (NaN before the first non-zero weight)."""
    num = shift_right(np.cumsum(np.nan_to_num(values) * weights, axis=1), fill=0.0)
    den = shift_right(np.cumsum(weights, axis=1, dtype=np.float64), fill=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, NEVER).astype(np.float32)
