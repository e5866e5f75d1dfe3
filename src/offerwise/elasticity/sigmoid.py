"""The category response curve f(x) = 1 / (1 + exp(-(a x + b))) of purchase probability on offer %
(paper §3.3, Equation 10), fitted by non-linear least squares."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit, logit


@dataclass(frozen=True)
class SigmoidFit:
    a: float
    b: float
    r2: float
    n: int

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return sigmoid(np.asarray(x, dtype=float), self.a, self.b)


def sigmoid(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return expit(a * x + b)


def fit_sigmoid(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, *, n: int | None = None) -> SigmoidFit:
    """Weighted least squares of y on the sigmoid of x; R² is weighted the same way.

    `n` is the number of underlying observations when (x, y) are bin means (default: len(x)).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"A sigmoid needs offers at two or more distinct values; got {np.unique(x).size} distinct value(s).")
    # Start from the straight line through the logits: a good basin for the non-linear fit.
    a0, b0 = np.polyfit(x, logit(np.clip(y, 1e-4, 1 - 1e-4)), 1, w=np.sqrt(w))
    with warnings.catch_warnings():  # the parameters' covariance is not used: its "could not be estimated" is noise on the terminal
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, b), _ = curve_fit(sigmoid, x, y, p0=(a0, b0), sigma=1 / np.sqrt(w), maxfev=20_000)
    resid = y - sigmoid(x, a, b)
    total = np.sum(w * (y - np.average(y, weights=w)) ** 2)
    r2 = 1 - np.sum(w * resid**2) / total if total > 0 else float("nan")
    return SigmoidFit(a=float(a), b=float(b), r2=float(r2), n=int(n if n is not None else x.size))


def elasticity(a: float | np.ndarray, k: np.ndarray, f_k: np.ndarray) -> np.ndarray:
    """Offer-elasticity of purchase probability at offer k (Equation 12): a · k · (1 − f(k))."""
    return np.asarray(a) * np.asarray(k) * (1 - np.asarray(f_k))
