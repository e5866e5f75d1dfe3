"""The retention-only Lagrangian solved exactly, without bisection on the multiplier.

Per pair, the upper concave hull of its allowed levels in the (retention r, value v) plane, from
its best-value level (the start) upwards in r. Each hull segment buys Δr > 0 of retention for −Δv ≥ 0
of value at the slope s = −Δv/Δr, and the slopes rise along a pair's hull. Taking every pair's segments
in one order by slope until the retention deficit is covered solves the LP relaxation; the slope of
the segment that crosses the deficit is the exact multiplier λ*. The integer choice takes that
segment whole (retention holds with a small overshoot).

The start is the first best level by index, as the repair's target; a tie of more r is then a
segment of slope 0, taken before any other: the same as starting from the tie of most r.

Pure functions on one block's arrays; optimize/blocks.PairBlock and the driver in solvers.py call them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CHUNK = 8192  # rows per step of the consecutive-level pass: its (rows x levels) temporaries stay in cache


class Segments(NamedTuple):
    """A block's hull segments: pairs in row order, each pair's in hull order (rising slope)."""

    row: np.ndarray  # the pair
    level: np.ndarray  # the level the segment ends at
    slope: np.ndarray  # value given up per unit of retention gained
    dr: np.ndarray  # retention gained


def chunks(n: int):
    """(start, stop) of consecutive row chunks of CHUNK rows."""
    return ((a, min(a + CHUNK, n)) for a in range(0, n, CHUNK))


def segments(vm: np.ndarray, r: np.ndarray, allowed: np.ndarray, start: np.ndarray) -> Segments:
    """Every pair's hull segments from `start` (its best level of `vm`, forbidden levels at NEG).
    Pairs whose allowed levels run contiguously, with r rising and concave from the start, take the
    consecutive levels as they are; the others go through the monotone chain."""
    parts, others = [], []
    for a, b in chunks(vm.shape[0]):
        part, other = _consecutive(vm[a:b], r[a:b], allowed[a:b], start[a:b])
        parts.append(Segments(part.row + a, *part[1:]))
        others.append(other + a)
    other = np.concatenate(others) if others else np.zeros(0, dtype=int)
    if other.size:
        part = _chain(vm[other], r[other], allowed[other], start[other])
        parts.append(Segments(other[part.row], *part[1:]))  # after the consecutive ones: row order holds within each part
    if not parts:
        return Segments(*(np.zeros(0, dtype=t) for t in (int, int, float, float)))
    return Segments(*(np.concatenate(field) for field in zip(*parts, strict=True)))


def _consecutive(vm, r, allowed, start) -> tuple[Segments, np.ndarray]:
    """Segments between consecutive levels from the start to the end of its run of allowed levels,
    for the pairs where those are the hull; and the other pairs' rows. Checks run on flat arrays
    (long contiguous loops) and on the segments, not on (pairs x levels) slices."""
    c, L = vm.shape
    regular, last = _one_rising_run(r, allowed)
    count = np.where(regular, np.maximum(last - start, 0), 0)
    row = np.repeat(np.arange(c), count)
    at = np.arange(row.size) + np.repeat(np.arange(c) * L + start + 1 - (np.cumsum(count) - count), count)  # flat end levels
    dr = r.take(at) - r.take(at - 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # r not rising: such a pair goes to the chain
        slope = (vm.take(at - 1) - vm.take(at)) / dr
    regular[row[1:][(slope[1:] < slope[:-1]) & (row[1:] == row[:-1])]] = False  # a point below the chord: not concave
    keep = regular[row]
    return Segments(row[keep], at[keep] - row[keep] * L, slope[keep], dr[keep]), np.flatnonzero(~regular)


def _one_rising_run(r, allowed) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: whether its allowed levels form one run along which r rises (then no level outside
    the run can lie on the hull); the run's last level."""
    c, L = allowed.shape
    padded = np.zeros((c, L + 2), dtype=bool)  # a forbidden level at both ends: every run starts and ends inside its row
    padded[:, 1:-1] = allowed
    flat = padded.ravel()
    ends = np.flatnonzero(flat[:-1] > flat[1:])  # each run's last level, in flat positions
    row = ends // (L + 2)
    last = np.full(c, -1)
    last[row] = ends % (L + 2) - 1  # right for one run (with more, the row is not regular)
    al, rr = allowed.ravel(), r.ravel()
    falls = np.flatnonzero((al[1:] & al[:-1]) > (rr[1:] > rr[:-1]))  # both allowed, r not rising (NaN included)
    regular = np.ones(c, dtype=bool)
    regular[row[1:][row[1:] == row[:-1]]] = False  # two runs or more
    regular[falls[falls % L != L - 1] // L] = False  # not across two rows
    return regular, last


def _chain(vm, r, allowed, start) -> Segments:
    """The upper hull from the start by Andrew's monotone chain, vectorised over pairs (a loop over
    levels): points sorted by r, the last kept point popped while it lies on or below the chord."""
    m, L = vm.shape
    rows = np.arange(m)
    keep = allowed & (r > r[rows, start][:, None])  # at or below the start's r a level gives less for no more retention
    keep[rows, start] = True
    order = np.argsort(np.where(keep, r, np.inf), axis=1, kind="stable")  # the start first
    x, y, keep = (np.take_along_axis(a, order, axis=1) for a in (r, vm, keep))
    stack, size = np.zeros((m, L), dtype=int), np.ones(m, dtype=int)
    for k in range(1, L):
        while True:
            a, b = stack[rows, np.maximum(size - 2, 0)], stack[rows, size - 1]
            ax, ay, bx, by = x[rows, a], y[rows, a], x[rows, b], y[rows, b]
            above = (bx - ax) * (y[:, k] - ay) >= (by - ay) * (x[:, k] - ax)
            pop = keep[:, k] & (size >= 2) & above
            if not pop.any():
                break
            size -= pop
        stack[rows[keep[:, k]], size[keep[:, k]]] = k
        size += keep[:, k]
    return _chain_segments(x, y, order, stack, size)


def _chain_segments(x, y, order, stack, size) -> Segments:
    """The segments between a chain's consecutive points; the slopes made monotone against rounding."""
    rows = np.arange(x.shape[0])[:, None]
    xs, ys = x[rows, stack], y[rows, stack]
    dr, dv = xs[:, 1:] - xs[:, :-1], ys[:, :-1] - ys[:, 1:]
    valid = (np.arange(1, x.shape[1]) < size[:, None]) & (dr > 0)  # equal r can only close a chain: drop it
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.maximum.accumulate(np.where(valid, dv / dr, -np.inf), axis=1)
    row, k = np.nonzero(valid)
    return Segments(row, order[row, stack[row, k + 1]], slope[row, k], dr[row, k])


def crossing(slopes: list[np.ndarray], drs: list[np.ndarray], below: float, deficit: float) -> tuple[float, list[int]]:
    """λ*: the slope at which the segments, in one order by slope after `below` retention already
    taken, first cover `deficit`; and how many segments of slope λ* each block takes (ties go in
    block order, then in each block's own order)."""
    block = np.repeat(np.arange(len(slopes)), [s.size for s in slopes])
    slope, dr = np.concatenate(slopes), np.concatenate(drs)
    if slope.size == 0:
        return 0.0, [0] * len(slopes)
    order = np.argsort(slope, kind="stable")
    k = min(int(np.searchsorted(below + np.cumsum(dr[order]), deficit)), slope.size - 1)  # short only by rounding: take all
    lam = float(slope[order[k]])
    tied = order[: k + 1][slope[order[: k + 1]] == lam]
    return lam, np.bincount(block[tied], minlength=len(slopes)).tolist()


def last_taken(seg: Segments, lam: float, ties: int) -> np.ndarray:
    """The index of each pair's last segment once the pairs take their segments of slope below λ*
    and the first `ties` of slope λ* (slopes rise along a pair's hull: those are a prefix of its
    segments, and the pair moves to its last one's end)."""
    taken = seg.slope < lam
    if ties:
        taken[np.flatnonzero(seg.slope == lam)[:ties]] = True
    idx = np.flatnonzero(taken)
    rows = seg.row[idx]
    return idx[np.r_[rows[1:] != rows[:-1], True]] if rows.size else idx


def before(seg: Segments, start: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The level each segment in `index` starts from: the previous segment's end, or the start."""
    prev = np.maximum(index - 1, 0)
    same = (index > 0) & (seg.row[prev] == seg.row[index])
    return np.where(same, seg.level[prev], start[seg.row[index]])
