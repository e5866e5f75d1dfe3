"""Several measured fortnights at once (pure, over `measure`'s frames; pipeline/measure.py reads and writes).

One fortnight's holdout is small: on the Complete Journey it detects 3.44 of net revenue per consumer
where the plan expects +0.13 (docs/experiment.md). offerwise draws each fortnight's arms afresh (the
consumer hashed with the fortnight's first day, experiment/arms.py), so the fortnights' assignments
are independent, and so, nearly, are their estimates, whatever a consumer's purchases share from one
fortnight to the next. Pooled:

* an estimate with a normal interval, by inverse variance: value = Σ w_f v_f / Σ w_f, SE = 1 / √Σ w_f,
  w_f = 1 / SE_f², SE_f = (high − low) / (2 z) at the fortnight's own level; the interval at the first
  fortnight's level. A bootstrap's percentile interval is not normal, so it is left out (its CUPED
  estimate is pooled as the normal one);
* a model expectation (no interval) as the mean of its fortnights weighted by their rows (n);
* realised against predicted per arm and category, by summing the fortnights' counts;
* the explore arm's slope per category, and the estimator's beside it, by inverse variance.
A fortnight without an estimate (no interval, or none measured) is left out of that estimate's pool;
`fortnights` says how many went in.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.experiment.estimates import normal_interval

SUMMED = ("pairs", "consumers", "purchases", "predicted_purchases", "net_revenue", "predicted_net_revenue")
POOLED_COLUMNS = {  # what each of measure's frames must hold to be pooled
    "summary": ("estimate", "value", "low", "high", "level", "method", "n", "unit", "period_start", "period_end"),
    "by_category": ("arm", "category", *SUMMED),
    "slopes": ("category", "identified", "slope", "se", "level", "n", "consumers", "purchases"),
}


def _inverse_variance(values: np.ndarray, ses: np.ndarray) -> tuple[float, float, int]:
    """(pooled value, its SE, fortnights used) of the finite estimates with a positive SE."""
    ok = np.isfinite(values) & np.isfinite(ses) & (ses > 0)
    if not ok.any():
        return float("nan"), float("nan"), 0
    w = 1 / ses[ok] ** 2
    return float((w * values[ok]).sum() / w.sum()), float(1 / np.sqrt(w.sum())), int(ok.sum())


def _column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()


def pooled_summary(summaries: list[pl.DataFrame]) -> pl.DataFrame:
    """summary.csv of each fortnight (estimate, value, low, high, level, method, n, unit, note,
    period_start, period_end) -> one row per estimate over them all (module docstring), with
    `fortnights`; the estimates in the first fortnight's order."""
    rows = pl.concat(summaries, how="diagonal_relaxed")
    out = []
    for (name,), part in rows.group_by("estimate", maintain_order=True):
        method, level, unit = part.get_column("method")[0], float(part.get_column("level")[0]), part.get_column("unit")[0]
        if "bootstrap" in method:
            continue
        values, n = _column(part, "value"), part.get_column("n").fill_null(0).to_numpy()
        if part.get_column("low").is_null().all():  # a model expectation
            ok = np.isfinite(values) & (n > 0)
            value = float((values[ok] * n[ok]).sum() / n[ok].sum()) if ok.any() else float("nan")
            low = high = None
            used, note = int(ok.sum()), "the fortnights' values weighted by their rows (n)"
        else:
            z = norm.ppf(0.5 + _column(part, "level") / 2)
            value, se, used = _inverse_variance(values, (_column(part, "high") - _column(part, "low")) / (2 * z))
            pooled = normal_interval(value, se, level)
            low, high = pooled.low, pooled.high
            note = "inverse-variance mean of the fortnights' estimates (SE from each interval); the fortnights' arms drawn afresh"
        out.append(
            {
                "estimate": name,
                "value": value,
                "low": low,
                "high": high,
                "level": level,
                "method": f"{method}, {used} fortnights pooled",
                "n": int(n.sum()),
                "unit": unit,
                "note": note,
                "fortnights": used,
                "period_start": part.get_column("period_start").cast(pl.String).min(),
                "period_end": part.get_column("period_end").cast(pl.String).max(),
            }
        )
    return pl.DataFrame(out, schema_overrides={"low": pl.Float64, "high": pl.Float64})


def pooled_by_category(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """by_category.csv of each fortnight -> the counts summed per arm and category (consumers:
    consumer-fortnights), retention and predicted_retention again as purchases per pair."""
    both = pl.concat(frames, how="diagonal_relaxed")
    return (
        both.group_by("arm", "category", maintain_order=True)
        .agg(pl.col(c).sum() for c in SUMMED if c in both.columns)
        .with_columns(
            retention=pl.col("purchases") / pl.col("pairs"),
            predicted_retention=pl.col("predicted_purchases") / pl.col("pairs"),
            fortnights=pl.lit(len(frames), pl.Int64),
        )
    )


def pooled_slopes(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """slopes.csv of each fortnight -> per category the explore arm's slope and the estimator's, each
    pooled by inverse variance over the fortnights that identified it."""
    both = pl.concat(frames, how="diagonal_relaxed")
    out = []
    for (category,), part in both.group_by("category", maintain_order=True):
        found = part.filter(pl.col("identified").cast(pl.Boolean))
        level = float(part.get_column("level")[0])
        slope, se, used = _inverse_variance(_column(found, "slope"), _column(found, "se"))
        own = normal_interval(slope, se, level)
        row = {"category": category, "identified": used > 0, "slope": slope, "se": se, "low": own.low, "high": own.high}
        row |= {"level": level, "fortnights": used, **{c: int(found.get_column(c).sum()) for c in ("n", "consumers", "purchases")}}
        if "estimator_slope" in found.columns:
            est = normal_interval(*_inverse_variance(_column(found, "estimator_slope"), _column(found, "estimator_se"))[:2], level)
            row |= {"estimator_slope": est.value, "estimator_se": est.se, "estimator_low": est.low, "estimator_high": est.high}
        out.append(row)
    return pl.DataFrame(out)
