"""offerwise.elasticity.dml.estimate: the estimator end to end on the synthetic panel (conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.config import OptionError, ResponseConfig
from offerwise.elasticity.dml import MIN_OFFER_RELIABILITY, OfferResponse, ResponseEstimate
from offerwise.elasticity.dml import estimate as estimate_module
from offerwise.features.offers import OFFER_NOISE
from tests.elasticity.dml.conftest import CUTOFF, TRUE_SLOPE


def _fit(frame: pl.DataFrame, features: list, **options) -> OfferResponse:
    return OfferResponse(ResponseConfig(**options)).fit(frame, features, cutoff=CUTOFF)


@pytest.fixture(scope="module")
def fitted(panel) -> OfferResponse:
    frame, features = panel
    return _fit(frame, features, level=0.95)


@pytest.fixture(scope="module")
def estimate(fitted) -> ResponseEstimate:
    return fitted.estimate_


def _naive_logit_slope(frame: pl.DataFrame) -> float:
    """Logistic regression of Y on T alone (Newton steps)."""
    y = frame.get_column("target").to_numpy().astype(float)
    X = np.column_stack([np.ones(frame.height), frame.get_column("offer_pct").to_numpy().astype(float)])
    beta = np.zeros(2)
    for _ in range(25):
        p = 1 / (1 + np.exp(-X @ beta))
        beta += np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (y - p))
    return float(beta[1])


def test_dml_recovers_the_slope_where_the_naive_regression_is_biased(panel, estimate):
    frame, _ = panel
    a = estimate.categories.filter(pl.col("category") == "A").row(0, named=True)
    assert a["identified"] and a["method"].startswith("dml")
    assert a["low"] <= TRUE_SLOPE <= a["high"], a
    naive = _naive_logit_slope(frame.filter((pl.col("category") == "A") & pl.col("period").is_between(CUTOFF - 7, CUTOFF)))
    assert naive < 0.8 * TRUE_SLOPE  # promotions follow weak demand: the raw association is too flat
    assert not (a["low"] <= naive <= a["high"])


def test_more_folds_than_items_name_the_option(panel):
    frame, features = panel
    items = frame.get_column("item_id").n_unique()
    with pytest.raises(OptionError, match=f"'response.folds' option \\({items + 1}\\) is more than the {items} items"):
        _fit(frame, features, folds=items + 1)


def test_a_category_without_offer_variation_gets_the_pooled_slope(estimate):
    b = estimate.categories.filter(pl.col("category") == "B").row(0, named=True)
    assert not b["identified"] and b["method"].startswith("pooled")
    assert b["slope"] == pytest.approx(estimate.pooled["slope"]) and b["se"] >= estimate.pooled["se"]
    assert estimate.groups.filter(pl.col("category") == "B").is_empty()


def test_pair_slopes_are_never_negative_and_keep_the_order(panel, estimate):
    frame, _ = panel
    decided = frame.filter(pl.col("period") == CUTOFF + 1).sample(fraction=1.0, shuffle=True, seed=1)
    out = estimate.pair_slopes(decided)
    assert out.columns == ["customer_id", "item_id", "slope_mean", "slope_sd", "category_se"]
    assert out.select("customer_id", "item_id").equals(decided.select("customer_id", "item_id"))
    assert (out.get_column("slope_mean") >= 0).all() and (out.get_column("slope_sd") > 0).all()
    # a category whose slope came out negative is floored at 0 (a deeper offer never lowers p)
    negative = ResponseEstimate(categories=estimate.categories.with_columns(slope=pl.lit(-0.01)), groups=estimate.groups.head(0),
                                    pooled=estimate.pooled, cuts=estimate.cuts)  # fmt: skip
    assert (negative.pair_slopes(decided).get_column("slope_mean") == 0).all()


def test_rows_after_the_cutoff_are_never_used(panel, estimate):
    frame, features = panel
    later = pl.col("period") > CUTOFF
    changed = frame.with_columns(
        target=pl.when(later).then(1 - pl.col("target")).otherwise(pl.col("target")).cast(pl.Int8),
        offer_pct=pl.when(later).then(pl.lit(50.0)).otherwise(pl.col("offer_pct")).cast(pl.Float32),
        i_buyers_last=pl.when(later).then(pl.lit(999.0)).otherwise(pl.col("i_buyers_last")).cast(pl.Float32),
    )
    again = _fit(changed, features, level=0.95).estimate_
    assert again.categories.equals(estimate.categories)
    assert again.groups.equals(estimate.groups)


def test_an_estimate_saved_as_json_gives_the_same_pair_slopes(panel, estimate):
    """The forward plan can reuse the backtest's estimate (model.forward_models = "reuse") from its JSON."""
    frame, _ = panel
    decided = frame.filter(pl.col("period") == CUTOFF + 1)
    again = ResponseEstimate.from_dict(json.loads(json.dumps(estimate.to_dict())))
    assert_frame_equal(again.pair_slopes(decided), estimate.pair_slopes(decided))
    assert_frame_equal(again.categories, estimate.categories)


@pytest.mark.parametrize(("final_stage", "logistic_fit"), [("linear", "refit"), ("logistic", "refit"), ("logistic", "reuse")])
def test_both_final_stages_recover_the_slope(panel, final_stage, logistic_fit):
    frame, features = panel
    est = _fit(frame, features, level=0.95, final_stage=final_stage, logistic_fit=logistic_fit).estimate_
    a = est.categories.filter(pl.col("category") == "A").row(0, named=True)
    assert f"{final_stage} final stage" in a["method"]
    assert a["low"] <= TRUE_SLOPE <= a["high"], a
    assert est.info["final_stage"] == final_stage


def _with_measurement_error(frame: pl.DataFrame, sd: float, seed: int = 5) -> pl.DataFrame:
    """The offer observed with an item-period error of SD `sd` (as an offer inferred from other
    buyers' discounts is), and that error's variance in the noise column."""
    ip = frame.select("item_id", "period").unique().sort("item_id", "period")
    error = ip.with_columns(__e=pl.Series(np.random.default_rng(seed).normal(0, sd, ip.height)))
    return (
        frame.join(error, on=["item_id", "period"], how="left", maintain_order="left")
        .with_columns((pl.col("offer_pct") + pl.col("__e")).cast(pl.Float32), pl.lit(sd**2).alias(OFFER_NOISE))
        .drop("__e")
    )


def test_offer_measurement_error_is_corrected_and_a_category_of_noise_is_not_identified(panel):
    """Category A's offers with an error of SD 9 pt keep ~60 % of their residual variance as signal:
    ignored, the slope comes out that much flatter; divided by the measured reliability it is
    recovered. Category B's fixed offer plus the error is all noise: identified by variation alone,
    not once its reliability is known (not 0: the offer model's own fitting error counts as signal)."""
    frame, features = panel
    noisy = _with_measurement_error(frame, sd=9.0)
    ignored = _fit(noisy, features, level=0.95, offer_noise="ignore").estimate_.categories
    corrected = _fit(noisy, features, level=0.95).estimate_.categories
    a_ign, a_cor = (t.filter(pl.col("category") == "A").row(0, named=True) for t in (ignored, corrected))
    assert 0.3 < a_cor["offer_reliability"] < 0.8, a_cor
    assert a_ign["high"] < TRUE_SLOPE, a_ign  # attenuated
    assert a_cor["low"] <= TRUE_SLOPE <= a_cor["high"], a_cor
    assert a_cor["slope"] == pytest.approx(a_ign["slope"] / a_cor["offer_reliability"], rel=0.1)
    b_ign, b_cor = (t.filter(pl.col("category") == "B").row(0, named=True) for t in (ignored, corrected))
    assert b_ign["identified"] and np.isnan(b_ign["offer_reliability"])
    assert not b_cor["identified"] and b_cor["offer_reliability"] < MIN_OFFER_RELIABILITY and "offer reliability" in b_cor["method"]


def test_recorded_offers_need_no_correction(panel, estimate):
    frame, features = panel
    recorded = _fit(frame.with_columns(pl.lit(0.0).alias(OFFER_NOISE)), features, level=0.95).estimate_
    a = recorded.categories.filter(pl.col("category") == "A").row(0, named=True)
    assert a["offer_reliability"] == 1.0
    assert a["slope"] == pytest.approx(estimate.categories.filter(pl.col("category") == "A").get_column("slope").item())


def test_fit_returns_the_estimator_whose_pair_slopes_are_its_estimate_s(panel, fitted):
    frame, _ = panel
    decided = frame.filter(pl.col("period") == CUTOFF + 1)
    assert isinstance(fitted, OfferResponse) and isinstance(fitted.estimate_, ResponseEstimate)
    assert_frame_equal(fitted.pair_slopes(decided), fitted.estimate_.pair_slopes(decided))


def test_fit_runs_with_one_blas_thread(panel, monkeypatch):
    """The final stage's products ran 3-50x slower with two BLAS threads on a busy 2-core machine."""
    from threadpoolctl import threadpool_info

    frame, features = panel
    seen = []

    def stop(*args, **kwargs):
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        raise RuntimeError("stopped inside fit")

    monkeypatch.setattr(estimate_module, "design", stop)
    with pytest.raises(RuntimeError, match="stopped inside fit"):
        _fit(frame, features)
    assert seen and set(seen) == {1}
