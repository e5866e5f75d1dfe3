"""Several measured fortnights pooled (offerwise.experiment.pool)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from offerwise.experiment.pool import pooled_by_category, pooled_slopes, pooled_summary

Z90 = norm.ppf(0.95)


def _summary(start: str, cuped: tuple[float, float] | None, expected: float, n: int) -> pl.DataFrame:
    """One fortnight's summary.csv: the CUPED difference (value, SE) or none, its bootstrap, the model's expectation."""
    value, se = cuped if cuped is not None else (None, None)
    low, high = (None, None) if cuped is None else (value - Z90 * se, value + Z90 * se)
    return pl.DataFrame(
        {
            "estimate": ["plan_minus_holdout_cuped", "plan_minus_holdout_bootstrap", "plan_minus_holdout_expected"],
            "value": [value, value, expected],
            "low": [low, low, None],
            "high": [high, high, None],
            "level": [0.9, 0.9, 0.9],
            "method": ["CUPED, normal", "CUPED, cluster bootstrap", "model"],
            "n": [n, n, n],
            "unit": ["consumer"] * 3,
            "note": [""] * 3,
            "period_start": [start] * 3,
            "period_end": [start] * 3,
        },
        schema_overrides={"value": pl.Float64, "low": pl.Float64, "high": pl.Float64},
    )


def test_an_estimate_with_an_interval_pools_by_inverse_variance_and_a_model_one_by_its_rows() -> None:
    pooled = pooled_summary([_summary("2018-01-01", (1.0, 2.0), 1.0, 100), _summary("2018-01-15", (3.0, 1.0), 4.0, 300)])
    assert pooled.get_column("estimate").to_list() == ["plan_minus_holdout_cuped", "plan_minus_holdout_expected"]  # no bootstrap
    cuped, expected = pooled.row(0, named=True), pooled.row(1, named=True)
    assert cuped["value"] == pytest.approx((1 / 4 * 1 + 1 * 3) / (1 / 4 + 1))  # weights 1 / SE²
    se = 1 / np.sqrt(1 / 4 + 1)
    assert (cuped["low"], cuped["high"]) == pytest.approx((cuped["value"] - Z90 * se, cuped["value"] + Z90 * se))
    assert cuped["fortnights"] == 2 and cuped["n"] == 400
    assert expected["value"] == pytest.approx((100 * 1 + 300 * 4) / 400) and expected["low"] is None
    assert (cuped["period_start"], cuped["period_end"]) == ("2018-01-01", "2018-01-15")


def test_a_fortnight_without_the_estimate_is_left_out_of_its_pool() -> None:
    pooled = pooled_summary([_summary("2018-01-01", None, 1.0, 100), _summary("2018-01-15", (3.0, 1.0), 4.0, 300)])
    cuped = pooled.row(0, named=True)
    assert cuped["fortnights"] == 1 and cuped["value"] == pytest.approx(3.0)
    assert cuped["high"] - cuped["low"] == pytest.approx(2 * Z90 * 1.0)


def test_realised_against_predicted_sums_the_fortnights_counts() -> None:
    def part(purchases: int, predicted: float) -> pl.DataFrame:
        return pl.DataFrame({
            "arm": ["plan"], "category": ["A"], "pairs": [100], "consumers": [40], "purchases": [purchases], "predicted_purchases": [predicted],
            "net_revenue": [50.0], "predicted_net_revenue": [45.0], "retention": [purchases / 100], "predicted_retention": [predicted / 100],
        })  # fmt: skip

    pooled = pooled_by_category([part(10, 12.0), part(30, 20.0)]).row(0, named=True)
    assert (pooled["pairs"], pooled["purchases"], pooled["consumers"], pooled["fortnights"]) == (200, 40, 80, 2)
    assert pooled["retention"] == pytest.approx(0.2) and pooled["predicted_retention"] == pytest.approx(0.16)


def test_explore_slopes_pool_over_the_fortnights_that_identified_them() -> None:
    def part(identified: bool, slope: float, se: float, estimator: float) -> pl.DataFrame:
        return pl.DataFrame({
            "category": ["A"], "identified": [identified], "slope": [slope], "se": [se], "level": [0.9], "n": [50], "consumers": [45],
            "purchases": [9], "estimator_slope": [estimator], "estimator_se": [0.001],
        })  # fmt: skip

    pooled = pooled_slopes([part(True, 0.02, 0.01, 0.03), part(True, 0.05, 0.01, 0.04), part(False, 9.0, 0.001, 0.05)]).row(0, named=True)
    assert pooled["fortnights"] == 2 and pooled["slope"] == pytest.approx(0.035) and pooled["se"] == pytest.approx(0.01 / np.sqrt(2))
    assert pooled["estimator_slope"] == pytest.approx(0.035) and pooled["n"] == 100
