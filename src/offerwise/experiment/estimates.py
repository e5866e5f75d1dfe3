"""The experiment's estimators over arrays, each with an interval at `level` (normal unless said):

* plan − holdout per consumer: the difference in means, plain and with CUPED (the consumer's net
  revenue on the same pairs in the fortnight before as covariate), and a cluster bootstrap by consumer;
* the plan's value per pair from the randomised pairs: inverse propensity (IPS) and doubly robust (DR),
  and any mean of pair values with its standard error clustered by consumer.

Intervals: statsmodels OLS (HC2 for the difference in means, which is Welch's for the plain one;
cluster-robust by consumer for pair means).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy.stats import norm


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    se: float


NONE = Interval(float("nan"), float("nan"), float("nan"), float("nan"))


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def normal_interval(value: float, se: float, level: float) -> Interval:
    """value ± z · se at the two-sided `level`."""
    half = _z(level) * se
    return Interval(float(value), float(value - half), float(value + half), float(se))


def difference_in_means(y: np.ndarray, treated: np.ndarray, level: float, covariate: np.ndarray | None = None) -> Interval:
    """Mean of `y` over treated units minus over the others (one row per unit, here a consumer).

    With `covariate` this is CUPED as a regression: OLS of y on 1, treated and (covariate − its mean),
    the coefficient of treated = (ȳ_T − ȳ_C) − θ (x̄_T − x̄_C), θ the within-arm slope of y on x.
    HC2 standard errors (without the covariate: exactly Welch's)."""
    y, t = np.asarray(y, float), np.asarray(treated, float)
    if t.sum() < 2 or (1 - t).sum() < 2:
        return NONE
    columns = [np.ones_like(y), t]
    if covariate is not None and np.isfinite(cuped_theta(y, t, covariate)):  # a covariate constant within arms adjusts nothing
        columns.append(np.asarray(covariate, float) - np.mean(covariate))
    fit = sm.OLS(y, np.column_stack(columns)).fit(cov_type="HC2")
    return normal_interval(fit.params[1], fit.bse[1], level)


def cuped_theta(y: np.ndarray, treated: np.ndarray, covariate: np.ndarray) -> float:
    """θ of `difference_in_means` with a covariate: the within-arm slope of y on x (NaN if x is constant)."""
    t = np.asarray(treated, bool)
    y, x = np.asarray(y, float), np.asarray(covariate, float)
    return _within_slope(y[t], x[t], y[~t], x[~t])


def _within_slope(y_t: np.ndarray, x_t: np.ndarray, y_c: np.ndarray, x_c: np.ndarray) -> float:
    xt, xc = x_t - x_t.mean(), x_c - x_c.mean()
    sxx = (xt * xt).sum() + (xc * xc).sum()
    return float(((xt * (y_t - y_t.mean())).sum() + (xc * (y_c - y_c.mean())).sum()) / sxx) if sxx > 0 else float("nan")


def _cuped_point(y_t: np.ndarray, x_t: np.ndarray, y_c: np.ndarray, x_c: np.ndarray) -> float:
    """The CUPED difference of `difference_in_means` in closed form (the bootstrap's statistic)."""
    theta = np.nan_to_num(_within_slope(y_t, x_t, y_c, x_c))  # a constant covariate adjusts nothing
    return float(y_t.mean() - y_c.mean() - theta * (x_t.mean() - x_c.mean()))


def cluster_bootstrap(y: np.ndarray, treated: np.ndarray, covariate: np.ndarray, *, level: float, reps: int, seed: int) -> Interval:
    """The CUPED difference with a percentile interval from `reps` resamples of the consumers (each
    consumer's pairs stay together: the cluster bootstrap by consumer), drawn within each arm so that
    both arms keep their sizes as the design fixed them. se: the replicates' standard deviation."""
    t = np.asarray(treated, bool)
    y, x = np.asarray(y, float), np.asarray(covariate, float)
    if reps <= 0 or t.sum() < 2 or (~t).sum() < 2:
        return NONE
    y_t, x_t, y_c, x_c = y[t], x[t], y[~t], x[~t]
    rng = np.random.default_rng(seed)
    draws = np.empty(reps)
    for b in range(reps):
        i, j = rng.integers(0, y_t.size, y_t.size), rng.integers(0, y_c.size, y_c.size)
        draws[b] = _cuped_point(y_t[i], x_t[i], y_c[j], x_c[j])
    low, high = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(_cuped_point(y_t, x_t, y_c, x_c), float(low), float(high), float(draws.std(ddof=1)))


def clustered_mean(values: np.ndarray, clusters: np.ndarray, level: float) -> Interval:
    """The mean of pair values with its standard error clustered by `clusters` (consumers):
    statsmodels' cluster-robust OLS on a constant (small-sample factor G/(G−1) · (N−1)/(N−K))."""
    v = np.asarray(values, float)
    groups = np.unique(np.asarray(clusters), return_inverse=True)[1]
    if v.size == 0:
        return NONE
    if groups.max() < 1:  # one consumer: no spread between clusters to measure
        return Interval(float(v.mean()), float("nan"), float("nan"), float("nan"))
    fit = sm.OLS(v, np.ones_like(v)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return normal_interval(fit.params[0], fit.bse[0], level)


def ips_terms(revenue: np.ndarray, matches: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """Per pair 1[given = target] / propensity · r: their mean estimates the target policy's value per pair."""
    return np.asarray(matches, float) / np.asarray(propensity, float) * np.asarray(revenue, float)


def dr_terms(revenue: np.ndarray, matches: np.ndarray, propensity: np.ndarray, q_target: np.ndarray, q_given: np.ndarray) -> np.ndarray:
    """Per pair q(target) + 1[given = target] / propensity · (r − q(given)): unbiased when either the
    propensities or the outcome model q are right (the propensities are, by design)."""
    weight = np.asarray(matches, float) / np.asarray(propensity, float)
    return np.asarray(q_target, float) + weight * (np.asarray(revenue, float) - np.asarray(q_given, float))
