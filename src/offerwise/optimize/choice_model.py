"""A consumer-category's response to a bundle as a nested logit calibrated to the estimated slopes
(optimize.bundle_response = "nested_logit"; the default is bundles.py's logit shift, which did better
on the simulator's seed 7: docs/optimization.md).

Within a consumer-category the status quo probabilities f_i give the expected category purchases
N0 = Σ f and the shares s_i = f_i / N0. Under a bundle o:

    u_i = log f_i + b_i (o_i − k_i),   S = Σ exp(u_i),   N(o) = N0 (S / N0)^λ,   p_i = min(1, N(o) exp(u_i) / S)

so an offer moves share from the consumer's other items (S grows) and grows the category only by
the power λ: a deep offer on an item the consumer mostly buys gains little (its own logistic curve
would keep climbing). At the status quo p_i = f_i. Calibration there: the own
slope d logit p_i / d o_i = b_i (1 − s_i (1 − λ)) / (1 − f_i) is the estimated own slope, and the
cross slope d logit p_i / d o_j = −b_j s_j (1 − λ) / (1 − f_i) is the estimated θ_c w_j (w ≈ s), so
λ_c = 1 + θ_c (1 − f̄) / b̄ (clipped to [0, 1]), b̄ the category's mean utility slope: a fixed
point, a few iterations. A category where no substitution is found (θ_c ≥ 0) keeps each item's own
logistic curve (bundles.with_nested_logit).
Why a nested logit: it is the published store models' choice within a category (docs/simulator.md).
"""

from __future__ import annotations

import numpy as np

ITERATIONS = 8


def calibrate(f: np.ndarray, slope: np.ndarray, unit: np.ndarray, theta: float) -> tuple[np.ndarray, float]:
    """(b, λ): each pair's utility slope and the category's λ from its own slopes and cross slope θ."""
    if f.size == 0:
        return np.zeros(0), 1.0
    n0 = np.bincount(unit, f)[unit]
    share = f / np.maximum(n0, 1e-12)
    lam = 1.0
    for _ in range(ITERATIONS):
        b = slope * (1 - f) / np.maximum(1 - share * (1 - lam), 1e-6)
        mean_b = float(np.average(b, weights=f)) if f.sum() > 0 else 0.0
        lam = 1.0 if theta >= 0 or mean_b <= 0 else float(np.clip(1 + theta * (1 - np.average(f, weights=f)) / mean_b, 0.0, 1.0))
    return slope * (1 - f) / np.maximum(1 - share * (1 - lam), 1e-6), lam


def probabilities(option: np.ndarray, u: np.ndarray, n0: np.ndarray, lam: float, options: int) -> np.ndarray:
    """p of every (option, pair) row: u its utility, n0 its unit's N0 (rows of an option are its whole unit)."""
    top = np.full(options, -np.inf)
    np.maximum.at(top, option, u)
    log_s = (np.log(np.bincount(option, np.exp(u - top[option]), minlength=options)) + top)[option]  # log S, overflow-free
    log_n0 = np.log(np.maximum(n0, 1e-300))
    return np.minimum(1.0, np.exp(log_n0 + lam * (log_s - log_n0) + u - log_s))
