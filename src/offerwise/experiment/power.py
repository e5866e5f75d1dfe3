"""What the holdout can detect before the fortnight runs (docs/experiment.md, Power).

The outcome is a consumer's net revenue over the plan's pairs in the fortnight. Its spread is the
last fortnight's, and `measure` compares arms with CUPED (the fortnight before as covariate), which
leaves (1 - rho^2) of the variance, rho the correlation of consecutive fortnights. The smallest
difference in means detectable with 80 % power at 5 % two-sided:
    (z_0.975 + z_0.80) * sd * sqrt(1 - rho^2) * sqrt(1 / n_holdout + 1 / n_treated).
"""

from __future__ import annotations

import math

import polars as pl
from scipy.stats import norm

POWER, ALPHA = 0.80, 0.05


def consumer_revenue(history: pl.DataFrame, plan: pl.DataFrame, period: int) -> pl.DataFrame:
    """customer_id, revenue: each plan consumer's net revenue over their plan pairs in `period`
    (history: customer_id, item_id, period, target, offer_pct; the pair's price from the plan)."""
    rows = history.filter(pl.col("period") == period).join(plan.select("customer_id", "item_id", "price"), on=["customer_id", "item_id"])
    spent = rows.group_by("customer_id").agg(
        revenue=(pl.col("target") * pl.col("price") * (1 - pl.col("offer_pct").fill_null(0) / 100)).sum()
    )
    consumers = plan.select("customer_id").unique()
    return consumers.join(spent, on="customer_id", how="left").with_columns(pl.col("revenue").fill_null(0.0)).sort("customer_id")


def detectable_difference(last: pl.DataFrame, before: pl.DataFrame, holdout: int, treated: int) -> dict:
    """sd, rho and the detectable difference per consumer (module docstring); NaN without both arms."""
    both = last.join(before, on="customer_id", suffix="_before")
    sd = float(both.get_column("revenue").std() or 0.0)
    rho = both.select(pl.corr("revenue", "revenue_before")).item() if both.height > 2 else None
    rho = 0.0 if rho is None or math.isnan(rho) else float(rho)
    z = norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)
    mde = z * sd * math.sqrt(1 - rho**2) * math.sqrt(1 / holdout + 1 / treated) if holdout and treated else math.nan
    return {"outcome_sd": sd, "pre_period_correlation": rho, "detectable_difference_per_consumer": mde, "power": POWER, "alpha": ALPHA}
