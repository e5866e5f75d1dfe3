"""The explore arm's offer slope per category, beside the estimator's (pure, over frames).

Explored pairs got a random allowed level, so within a category the offer is independent of
everything the model knows about the pair: a logistic regression of purchased on the offer moved
(given − reference) with the model's logit at the reference offer as offset,

    logit P(bought) = logit p_reference + α + β · (given − reference),

identifies β, the logit change per offer point (α absorbs the model's level error at the status quo).
Standard errors are clustered by consumer (statsmodels GLM).
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from offerwise.probability import clipped_logit

MIN_PAIRS = 30  # fewer explored pairs in a category: its slope is not reported

SLOPE_SCHEMA = {
    "category": pl.String,
    "identified": pl.Boolean,
    "slope": pl.Float64,
    "se": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "level": pl.Float64,
    "n": pl.Int64,
    "consumers": pl.Int64,
    "purchases": pl.Int64,
    "note": pl.String,
}
ESTIMATOR_COLUMNS = {"slope": "estimator_slope", "se": "estimator_se", "low": "estimator_low", "high": "estimator_high"}


def explore_slopes(pairs: pl.DataFrame, response: pl.DataFrame | None, *, level: float, min_pairs: int = MIN_PAIRS) -> pl.DataFrame:
    """One row per category of `pairs` (customer_id, category, arm, recommended_offer_pct,
    reference_offer_pct, p_reference, bought): SLOPE_SCHEMA's columns, then estimator_slope,
    estimator_se, estimator_low, estimator_high from `response` (response.csv; empty without it).
    A category with too few explored pairs, no offer variation or no variation in purchases gets
    identified = false, no number and a note saying which."""
    explore = pairs.filter(pl.col("arm") == "explore")
    rows = [
        _category_slope(explore.filter(pl.col("category") == category), category, level, min_pairs)
        for category in sorted(pairs.get_column("category").unique().to_list())
    ]
    table = pl.DataFrame(rows, schema=SLOPE_SCHEMA, orient="row")
    if response is None or not {"category", *ESTIMATOR_COLUMNS} <= set(response.columns):
        return table.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ESTIMATOR_COLUMNS.values())
    estimator = response.select(
        pl.col("category").cast(pl.String), *[pl.col(c).cast(pl.Float64).alias(n) for c, n in ESTIMATOR_COLUMNS.items()]
    )
    return table.join(estimator, on="category", how="left")


def _category_slope(rows: pl.DataFrame, category: str, level: float, min_pairs: int) -> tuple:
    bought = rows.get_column("bought").cast(pl.Float64).to_numpy()
    moved = (rows.get_column("recommended_offer_pct") - rows.get_column("reference_offer_pct")).to_numpy().astype(float)
    counts = (rows.height, rows.get_column("customer_id").n_unique(), int(bought.sum()))
    problem = _unidentified(rows.height, moved, bought, min_pairs)
    if problem is None:
        fitted = _logit_slope(bought, moved, clipped_logit(rows.get_column("p_reference").to_numpy()), rows.get_column("customer_id"))
        if fitted is None:
            problem = "not identified: the logistic regression does not converge (purchases separate perfectly by offer)"
    if problem is not None:
        return (category, False, None, None, None, None, level, *counts, problem)
    slope, se = fitted
    half = float(norm.ppf(0.5 + level / 2)) * se
    note = "logit P(bought) = logit p_reference + α + β (given − reference); SE clustered by consumer"
    return (category, True, slope, se, slope - half, slope + half, level, *counts, note)


def _unidentified(n: int, moved: np.ndarray, bought: np.ndarray, min_pairs: int) -> str | None:
    if n < min_pairs:
        return f"not identified: {n} explored pairs (fewer than {min_pairs})"
    if np.unique(moved).size < 2:
        return "not identified: every explored pair moved the offer by the same amount (no offer variation)"
    if bought.min() == bought.max():
        return f"not identified: every explored pair was {'bought' if bought[0] else 'not bought'}"
    return None


def _logit_slope(bought: np.ndarray, moved: np.ndarray, offset: np.ndarray, consumers: pl.Series) -> tuple[float, float] | None:
    """β and its cluster-robust SE, or None when the fit fails (separation, no convergence)."""
    groups = np.unique(consumers.to_numpy(), return_inverse=True)[1]
    design = np.column_stack([np.ones_like(moved), moved])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = sm.GLM(bought, design, family=sm.families.Binomial(), offset=offset).fit(cov_type="cluster", cov_kwds={"groups": groups})
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError):
            return None
    slope, se = float(fit.params[1]), float(fit.bse[1])
    return (slope, se) if np.isfinite(slope) and np.isfinite(se) and se > 0 else None
