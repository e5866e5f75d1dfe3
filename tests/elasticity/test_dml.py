"""The orthogonalised offer-response estimator (offerwise.elasticity.dml) on a tiny synthetic panel
with a known logit offer slope and a retailer that promotes after weak sales."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.config import OptionError
from offerwise.elasticity import dml
from offerwise.features.manifest import Feature
from offerwise.features.offers import OFFER_NOISE

TRUE_SLOPE = 0.04  # logit change per offer point
CUTOFF = 12


def synthetic_panel(
    seed: int = 0, items: int = 60, customers: int = 200, per_customer: int = 10, periods: int = 14
) -> tuple[pl.DataFrame, list[Feature]]:
    """Category A: logistic purchases, logit p = affinity + TRUE_SLOPE · offer + item demand shock (AR(1),
    unrecorded); the retailer promotes an item more often after weak sales, which it sees in
    i_buyers_last against i_buyers_mean (recorded features). Category B: a fixed 10 % offer (not
    identified). Period 13 is after the cutoff."""
    rng = np.random.default_rng(seed)
    item_cat = np.where(np.arange(items) < items * 2 // 3, "A", "B")
    popularity = rng.normal(0, 0.5, items)
    item = np.concatenate([rng.choice(items, per_customer, replace=False) for _ in range(customers)])
    cust = np.repeat(np.arange(customers), per_customer)
    affinity = -2.0 + popularity[item] + rng.normal(0, 0.5, item.size)
    age = rng.choice(["18-25", "36-45", "70+"], customers)
    shock, buyers_prev, history, last = np.zeros(items), np.zeros(items), [], np.zeros(item.size)
    frames = []
    for t in range(periods):
        shock = 0.8 * shock + rng.normal(0, 0.5, items)
        mean = np.mean(history, axis=0) if history else np.zeros(items)
        weak = (buyers_prev - mean) / np.sqrt(mean + 1) if history else np.zeros(items)
        promoted = rng.random(items) < 1 / (1 + np.exp(0.8 + 1.5 * weak))
        offer = np.where(item_cat == "B", 10.0, np.where(promoted, rng.choice([10.0, 20.0, 30.0, 40.0], items), 0.0))[item]
        y = (rng.random(item.size) < 1 / (1 + np.exp(-(affinity + TRUE_SLOPE * offer + shock[item])))).astype(np.int8)
        frames.append(pl.DataFrame({
            "customer_id": cust, "item_id": item + 1000, "category": item_cat[item], "period": np.full(item.size, t), "target": y,
            "offer_pct": offer.astype(np.float32), "i_buyers_last": buyers_prev[item].astype(np.float32), "i_buyers_mean": mean[item].astype(np.float32),
            "lag_target_mean_2": last.astype(np.float32), "i_regular_price": (1 + popularity[item]).astype(np.float32),
            "ci_hist_offer_pct": np.zeros(item.size, np.float32), "demo_age_range": age[cust],
        }))  # fmt: skip
        buyers_prev = np.bincount(item, weights=y, minlength=items)
        history.append(buyers_prev)
        last = y
    frame = pl.concat(frames).with_columns(pl.col("target").cast(pl.Int8))
    features = [
        Feature("customer_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("item_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("category", "attribute", "static_categorical", "category", ""),
        Feature("offer_pct", "price_offer", "temporal_continuous", "float32", "", known_in_advance=True),
        *(Feature(c, "profile", "temporal_continuous", "float32", "") for c in ("i_buyers_last", "i_buyers_mean", "lag_target_mean_2", "i_regular_price", "ci_hist_offer_pct")),
        Feature("demo_age_range", "attribute", "static_categorical", "category", ""),
    ]  # fmt: skip
    return frame, features


@pytest.fixture(scope="module")
def panel() -> tuple[pl.DataFrame, list[Feature]]:
    return synthetic_panel()


@pytest.fixture(scope="module")
def estimate(panel) -> dml.ResponseEstimate:
    frame, features = panel
    return dml.estimate_response(frame, features, cutoff=CUTOFF, level=0.95)


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
        dml.estimate_response(frame, features, cutoff=CUTOFF, folds=items + 1)


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
    negative = dml.ResponseEstimate(categories=estimate.categories.with_columns(slope=pl.lit(-0.01)), groups=estimate.groups.head(0),
                                    pooled=estimate.pooled, cuts=estimate.cuts)  # fmt: skip
    assert (negative.pair_slopes(decided).get_column("slope_mean") == 0).all()


def test_shrinkage_pulls_a_small_group_toward_its_category():
    slope = 0.05
    dev = pl.DataFrame({
        "category": ["A"] * 4, "level": ["age"] * 4, "group": ["big1", "big2", "big3", "small"], "n_rows": [5000, 5000, 5000, 120],
        "dev": [0.010, -0.008, -0.004, 0.030], "dev_se": [0.002, 0.002, 0.002, 0.020],
    })  # fmt: skip
    shared = dev.select("level", "group", "n_rows", dev=pl.col("dev") / slope, dev_se=pl.col("dev_se") / slope)
    out, _ = dml._shrink(dev, shared, {"A": slope})
    row = {r["group"]: r for r in out.iter_rows(named=True)}
    assert abs(row["small"]["dev_shrunk"]) < 0.5 * abs(row["small"]["dev"])  # noisy: pulled most of the way back
    assert abs(row["big1"]["dev_shrunk"]) > 0.8 * abs(row["big1"]["dev"])  # precise: kept
    assert row["small"]["post_sd"] > row["big1"]["post_sd"]


def test_a_category_s_noisy_group_follows_the_groups_shared_pattern():
    """Two categories share a pattern (young +20 %); A's young group is small and noisy (raw −30 %):
    its shrunk deviation is pulled toward A's share of the shared effect, not kept, not zeroed."""
    slopes = {"A": 0.05, "B": 0.02}
    dev = pl.DataFrame({
        "category": ["A", "A", "B", "B"], "level": ["age"] * 4, "group": ["young", "old", "young", "old"], "n_rows": [150, 5000, 5000, 5000],
        "dev": [-0.3 * 0.05, -0.2 * 0.05, 0.2 * 0.02, -0.2 * 0.02], "dev_se": [0.02, 0.001, 0.0005, 0.0005],
    })  # fmt: skip
    shared = pl.DataFrame(
        {"level": ["age", "age"], "group": ["young", "old"], "n_rows": [5150, 10000], "dev": [0.2, -0.2], "dev_se": [0.02, 0.02]}
    )
    out, shared_out = dml._shrink(dev, shared, slopes)
    young_a = out.filter((pl.col("category") == "A") & (pl.col("group") == "young")).row(0, named=True)
    assert shared_out.filter(pl.col("group") == "young").get_column("rel").item() > 0.15
    mu, raw = 0.2 * 0.05, -0.3 * 0.05
    assert abs(young_a["dev_shrunk"] - mu) < abs(young_a["dev_shrunk"] - raw)  # nearer A's share of +20 % than its raw −30 %
    assert young_a["dev_shrunk"] > 0


def test_tau2_method_of_moments_recovers_the_spread():
    rng = np.random.default_rng(0)
    se = rng.uniform(0.5, 1.5, 4000)
    est = rng.normal(0, 2.0, 4000) + rng.normal(0, se)
    assert dml._tau2(est, se) == pytest.approx(4.0, rel=0.1)
    assert dml._tau2(rng.normal(0, se), se) < 0.1  # no spread beyond the noise: ~0, floored


def test_placebo_covers_zero(panel):
    frame, features = panel
    out = dml.placebo(frame, features, cutoff=CUTOFF, seed=0)
    assert out.columns == ["category", "slope", "low", "high", "covers_zero"]
    assert out.filter(pl.col("category") == "A").get_column("covers_zero").item()


def test_rows_after_the_cutoff_are_never_used(panel, estimate):
    frame, features = panel
    later = pl.col("period") > CUTOFF
    changed = frame.with_columns(
        target=pl.when(later).then(1 - pl.col("target")).otherwise(pl.col("target")).cast(pl.Int8),
        offer_pct=pl.when(later).then(pl.lit(50.0)).otherwise(pl.col("offer_pct")).cast(pl.Float32),
        i_buyers_last=pl.when(later).then(pl.lit(999.0)).otherwise(pl.col("i_buyers_last")).cast(pl.Float32),
    )
    again = dml.estimate_response(changed, features, cutoff=CUTOFF, level=0.95)
    assert again.categories.equals(estimate.categories)
    assert again.groups.equals(estimate.groups)


def test_subsample_keeps_small_categories_whole():
    frame = pl.DataFrame({"category": ["big"] * 1000 + ["small"] * 50, "x": np.arange(1050)})
    out = dml._subsample(frame, 300, seed=0)
    counts = dict(out.group_by("category").len().iter_rows())
    assert out.height == 300 and counts["small"] == 50 and counts["big"] == 250
    assert out.equals(dml._subsample(frame, 300, seed=0))


def test_an_estimate_saved_as_json_gives_the_same_pair_slopes(panel, estimate):
    """The forward plan can reuse the backtest's estimate (model.forward_models = "reuse") from its JSON."""
    frame, _ = panel
    decided = frame.filter(pl.col("period") == CUTOFF + 1)
    again = dml.ResponseEstimate.from_dict(json.loads(json.dumps(estimate.to_dict())))
    assert_frame_equal(again.pair_slopes(decided), estimate.pair_slopes(decided))
    assert_frame_equal(again.categories, estimate.categories)


@pytest.mark.parametrize(("final_stage", "logistic_fit"), [("linear", "refit"), ("logistic", "refit"), ("logistic", "reuse")])
def test_both_final_stages_recover_the_slope(panel, final_stage, logistic_fit):
    frame, features = panel
    est = dml.estimate_response(frame, features, cutoff=CUTOFF, level=0.95, final_stage=final_stage, logistic_fit=logistic_fit)
    a = est.categories.filter(pl.col("category") == "A").row(0, named=True)
    assert f"{final_stage} final stage" in a["method"]
    assert a["low"] <= TRUE_SLOPE <= a["high"], a
    assert est.info["final_stage"] == final_stage


def test_reused_logistic_nuisances_are_the_linear_stage_s_on_the_logit_scale():
    """r̂ = logit m_Y − slope · m_T and the instrument T − m_T, from the residuals alone."""
    Y, T = np.array([1.0, 0.0, 1.0]), np.array([10.0, 0.0, 30.0])
    m_y, m_t = np.array([0.5, 0.2, 0.75]), np.array([5.0, 5.0, 20.0])
    offset, instrument = dml.reused_logistic_nuisances(Y, T, Y - m_y, T - m_t, np.full(3, 0.02))
    np.testing.assert_allclose(offset, np.log(m_y / (1 - m_y)) - 0.02 * m_t)
    np.testing.assert_allclose(instrument, T - m_t)


def test_the_logistic_score_with_the_regressor_as_instrument_is_the_logistic_regression():
    """With instrument = regressor and no offset the logistic final stage solves the likelihood
    equations: the same coefficients as Newton's method on the log-likelihood."""
    rng = np.random.default_rng(3)
    n = 20_000
    x, group = rng.uniform(0, 40, n), rng.integers(0, 2, n)
    D = np.column_stack([np.ones(n), np.where(group == 1, 1.0, -1.0)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + (D @ np.array([0.04, 0.01])) * x)))).astype(float)
    final = dml._Final(True, y, x, x, np.full(n, -2.0))
    beta, V = dml._cluster_fit(D, final, np.arange(n))
    Z = D * x[:, None]
    ref = np.zeros(2)
    for _ in range(30):
        p = 1 / (1 + np.exp(-(Z @ ref - 2.0)))
        ref += np.linalg.solve(Z.T @ (Z * (p * (1 - p))[:, None]), Z.T @ (y - p))
    np.testing.assert_allclose(beta, ref, rtol=1e-6)
    assert np.all(np.diag(V) > 0) and abs(beta[0] - 0.04) < 4 * np.sqrt(V[0, 0])


def test_an_ill_posed_logistic_stage_keeps_the_linear_result():
    linear = (
        (0.03, 0.002),
        {"A": (0.04, 0.003), "B": (0.02, 0.004)},
        [{"category": "A", "dev": 0.001}, {"category": "B", "dev": 0.002}],
        None,
    )
    logistic = (
        (0.035, 0.002),
        {"A": (0.045, 0.003), "B": (-0.1, 4000.0)},
        [{"category": "A", "dev": 0.0}, {"category": "B", "dev": 9.0}],
        None,
    )
    pooled, slopes, devs, _, failed = dml._keep_well_posed(logistic, linear)
    assert failed == {"B"} and slopes == {"A": (0.045, 0.003), "B": (0.02, 0.004)} and pooled == (0.035, 0.002)
    assert sorted(d["dev"] for d in devs) == [0.0, 0.002]


def test_the_offer_model_works_at_the_level_the_offer_is_set(panel):
    frame, features = panel
    window = frame.filter(pl.col("period").is_between(CUTOFF - 7, CUTOFF))
    controls = dml.control_columns(window, features)
    item_level = [controls[i] for i in dml.item_period_columns(window, controls)]
    assert {"i_buyers_last", "i_buyers_mean", "i_regular_price", "category"} <= set(item_level)
    assert "lag_target_mean_2" not in item_level and "demo_age_range" not in item_level  # the consumer's own columns
    personalised = window.with_columns(offer_pct=pl.col("offer_pct") + (pl.col("customer_id") % 2).cast(pl.Float32))
    assert dml.item_period_columns(personalised, controls) is None  # offers vary within an item-period: every control

    # fitted on the distinct item-level rows (mean offer, weight = rows): repeating every row changes nothing
    W = dml._control_matrix(window, controls)
    T = window.get_column("offer_pct").to_numpy().astype(float)
    cols = dml.item_period_columns(window, controls)
    params = dml._nuisance_params(T.size, 2, 0)[1]
    once = dml.OfferRegressor(cols, **params).fit(W, T).predict(W)
    twice = dml.OfferRegressor(cols, **params).fit(np.vstack([W, W]), np.concatenate([T, T])).predict(W)
    np.testing.assert_allclose(once, twice, rtol=1e-6)


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
    ignored = dml.estimate_response(noisy, features, cutoff=CUTOFF, level=0.95, offer_noise="ignore").categories
    corrected = dml.estimate_response(noisy, features, cutoff=CUTOFF, level=0.95).categories
    a_ign, a_cor = (t.filter(pl.col("category") == "A").row(0, named=True) for t in (ignored, corrected))
    assert 0.3 < a_cor["offer_reliability"] < 0.8, a_cor
    assert a_ign["high"] < TRUE_SLOPE, a_ign  # attenuated
    assert a_cor["low"] <= TRUE_SLOPE <= a_cor["high"], a_cor
    assert a_cor["slope"] == pytest.approx(a_ign["slope"] / a_cor["offer_reliability"], rel=0.1)
    b_ign, b_cor = (t.filter(pl.col("category") == "B").row(0, named=True) for t in (ignored, corrected))
    assert b_ign["identified"] and np.isnan(b_ign["offer_reliability"])
    assert not b_cor["identified"] and b_cor["offer_reliability"] < dml.MIN_OFFER_RELIABILITY and "offer reliability" in b_cor["method"]


def test_recorded_offers_need_no_correction(panel, estimate):
    frame, features = panel
    recorded = dml.estimate_response(frame.with_columns(pl.lit(0.0).alias(OFFER_NOISE)), features, cutoff=CUTOFF, level=0.95)
    a = recorded.categories.filter(pl.col("category") == "A").row(0, named=True)
    assert a["offer_reliability"] == 1.0
    assert a["slope"] == pytest.approx(estimate.categories.filter(pl.col("category") == "A").get_column("slope").item())
