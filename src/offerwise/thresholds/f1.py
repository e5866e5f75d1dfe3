"""F1-maximising decisions (paper §3.2, Equations 4-9), exact and label-free.

* `best_threshold`: the cut-off Pr_c maximising F1 = 2 V / (k + b) over one set of probabilities
  and labels, by an exact O(n log n) scan of the sorted probabilities (not a grid).
* `expected_f1_top_k`: with no labels, the number k of top-probability items that maximises the
  *expected* F1 when purchases are independent Bernoulli(p) (Jansche 2007; Ye et al. 2012). Empty
  prediction with no purchase counts as F1 = 1, as in those papers.
"""

from __future__ import annotations

import numpy as np

MAX_EXACT_ITEMS = 300  # expected F1 is exact up to this many items per consumer; beyond, the top ones
VECTORISED_ITEMS = 60  # up to this many items, every k in one (n + 1)^3 product (1.8 MB); beyond, one k at a time


def best_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return (threshold, F1) maximising F1 of the rule p >= threshold; (inf, 0) without positives.

    Only cut-offs at an observed probability can change the decision, and with ties every item of
    the tied score is in or out together, so F1 is evaluated at the last index of each tie group.
    """
    b = float(y.sum())
    if b == 0 or p.size == 0:
        return float("inf"), 0.0
    order = np.argsort(-p, kind="stable")
    ps, tp = p[order], np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), p.size - 1]
    f1 = 2 * tp[last] / (last + 1 + b)
    best = int(np.argmax(f1))
    return float(ps[last[best]]), float(f1[best])


def _poisson_binomial(p: np.ndarray) -> np.ndarray:
    """(B, n + 1, n + 1) for p (B, n): row k of each is the distribution of the number of successes among p[b, :k]."""
    B, n = p.shape
    dist = np.zeros((B, n + 1, n + 1))
    dist[:, 0, 0] = 1.0
    for k in range(n):
        dist[:, k + 1] = dist[:, k] * (1 - p[:, k, None])
        dist[:, k + 1, 1:] += dist[:, k, :-1] * p[:, k, None]
    return dist


def expected_f1_curves(p_sorted: np.ndarray) -> np.ndarray:
    """(B, n + 1): E[F1] of predicting the top k items, k = 0 .. n, for each row of p_sorted (B, n),
    sorted descending. Many consumers of one size at once: the recursion's steps are numpy's, not a
    Python loop per consumer (56k consumer-categories on the Complete Journey). E[F1 | top k] sums
    2a / (k + a + r) over a true positives among the top k and r positives outside them: a matrix
    product per k (BLAS; numpy's three-operand einsum loops in C, 2.6x slower on the Complete Journey)."""
    n = p_sorted.shape[1]
    top = _poisson_binomial(p_sorted)  # successes among the first k
    rest = _poisson_binomial(p_sorted[:, ::-1])[:, ::-1]  # row k: successes among items k .. n-1
    a = np.arange(n + 1, dtype=np.float64)
    out = np.empty((p_sorted.shape[0], n + 1))
    out[:, 0] = rest[:, 0, 0]  # predict nothing: F1 = 1 only if nothing is bought
    if n <= VECTORISED_ITEMS:  # every k at once; top[k, a] = 0 for a > k and rest[k, r] = 0 for r > n - k
        inverse = 1 / (a[1:, None, None] + a[None, :, None] + a[None, None, :])  # (k, a, r)
        weighted = (top[:, 1:] * 2 * a).transpose(1, 0, 2)  # (k, B, a)
        out[:, 1:] = (np.matmul(weighted, inverse) * rest[:, 1:].transpose(1, 0, 2)).sum(axis=2).T
        return out
    for k in range(1, n + 1):  # only a <= k true positives and r <= n - k positives outside are possible
        tp, outside = a[: k + 1], a[: n - k + 1]
        out[:, k] = ((top[:, k, : k + 1] * 2 * tp) @ (1 / (k + tp[:, None] + outside[None, :])) * rest[:, k, : n - k + 1]).sum(axis=1)
    return out


def expected_f1_curve(p_sorted: np.ndarray) -> np.ndarray:
    """E[F1] of predicting the top k items, k = 0 .. n, for probabilities sorted descending."""
    return expected_f1_curves(p_sorted[None, :])[0]


def expected_f1_top_ks(p: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The best k of every group p[starts[g]:starts[g + 1]] (the last runs to the end), each group
    sorted descending: expected_f1_top_k's choice, groups of one size solved together."""
    ends = np.r_[starts[1:], p.size]
    sizes = np.minimum(ends - starts, MAX_EXACT_ITEMS)
    ks = np.zeros(starts.size, dtype=np.int64)
    for n in np.unique(sizes):
        groups = np.flatnonzero(sizes == n)
        chunk = max(1, (32 << 20) // (16 * (n + 1) ** 2))  # two (n + 1)^2 float64 tables per group: ~32 MB a chunk
        for lo in range(0, groups.size, chunk):
            g = groups[lo : lo + chunk]
            ks[g] = np.argmax(expected_f1_curves(p[starts[g, None] + np.arange(n)]), axis=1)
    return ks


def expected_f1_top_k(p: np.ndarray) -> tuple[int, float]:
    """Return (k, E[F1]) of the best top-k prediction; items beyond MAX_EXACT_ITEMS are never chosen."""
    ps = np.sort(p)[::-1][:MAX_EXACT_ITEMS]
    curve = expected_f1_curve(ps)
    k = int(np.argmax(curve))
    return k, float(curve[k])
