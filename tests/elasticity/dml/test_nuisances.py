"""offerwise.elasticity.dml.nuisances: the offer model and the logistic stage's reused nuisances."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.elasticity.dml.design import _control_matrix, control_columns, design
from offerwise.elasticity.dml.nuisances import OfferRegressor, cross_fits, _nuisance_params, item_period_columns, reused_logistic_nuisances
from tests.elasticity.dml.conftest import CUTOFF


def test_reused_logistic_nuisances_are_the_linear_stage_s_on_the_logit_scale():
    """r̂ = logit m_Y − slope · m_T and the instrument T − m_T, from the residuals alone."""
    Y, T = np.array([1.0, 0.0, 1.0]), np.array([10.0, 0.0, 30.0])
    m_y, m_t = np.array([0.5, 0.2, 0.75]), np.array([5.0, 5.0, 20.0])
    offset, instrument = reused_logistic_nuisances(Y, T, Y - m_y, T - m_t, np.full(3, 0.02))
    np.testing.assert_allclose(offset, np.log(m_y / (1 - m_y)) - 0.02 * m_t)
    np.testing.assert_allclose(instrument, T - m_t)


def test_the_offer_model_works_at_the_level_the_offer_is_set(panel):
    frame, features = panel
    window = frame.filter(pl.col("period").is_between(CUTOFF - 7, CUTOFF))
    controls = control_columns(window, features)
    item_level = [controls[i] for i in item_period_columns(window, controls)]
    assert {"i_buyers_last", "i_buyers_mean", "i_regular_price", "category"} <= set(item_level)
    assert "lag_target_mean_2" not in item_level and "demo_age_range" not in item_level  # the consumer's own columns
    personalised = window.with_columns(offer_pct=pl.col("offer_pct") + (pl.col("customer_id") % 2).cast(pl.Float32))
    assert item_period_columns(personalised, controls) is None  # offers vary within an item-period: every control

    # fitted on the distinct item-level rows (mean offer, weight = rows): repeating every row changes nothing
    W = _control_matrix(window, controls)
    T = window.get_column("offer_pct").to_numpy().astype(float)
    cols = item_period_columns(window, controls)
    params = _nuisance_params(T.size, 2, 0)[1]
    once = OfferRegressor(cols, **params).fit(W, T).predict(W)
    twice = OfferRegressor(cols, **params).fit(np.vstack([W, W]), np.concatenate([T, T])).predict(W)
    np.testing.assert_allclose(once, twice, rtol=1e-6)


def test_randomised_rows_take_the_design_s_mean_offer_as_their_nuisance(panel):
    """Rows whose offer a design drew (offer_design_mean) get T − that mean as the offer residual; others the model's."""
    frame, features = panel
    rng = np.random.default_rng(0)
    drawn = rng.random(frame.height) < 0.1
    frame = frame.with_columns(
        offer_pct=pl.when(pl.Series(drawn)).then(pl.Series(rng.choice([0.0, 20.0, 40.0], frame.height))).otherwise(pl.col("offer_pct")),
        offer_design_mean=pl.when(pl.Series(drawn)).then(20.0).otherwise(None),
    )
    d = design(frame, features, cutoff=CUTOFF, periods=8, max_rows=4000, seed=0)
    known = ~np.isnan(d.design_mean)
    assert known.sum() >= drawn.mean() * 0.5 * d.T.size  # sampled down to max_rows, the randomised rows all stay
    fit = cross_fits(d, folds=2, seed=0)[0]
    assert np.allclose(fit.t_res[known], d.T[known] - 20.0)
    assert not np.allclose(fit.t_res[~known], d.T[~known] - 20.0)


def test_the_offer_model_s_level_is_judged_on_the_rows_no_design_drew(panel):
    """A measured fortnight's personalised offers (known design mean) leave the observational rows'
    offer model at the item-period level; the same offers without a design mean switch it to every column."""
    frame, features = panel
    last = pl.col("period") == CUTOFF
    personalised = (
        pl.when(last).then(pl.col("offer_pct") + 5.0 * (pl.col("customer_id") % 2).cast(pl.Float32)).otherwise(pl.col("offer_pct"))
    )
    measured = frame.with_columns(offer_pct=personalised, offer_design_mean=pl.when(last).then(pl.col("offer_pct") + 2.5))
    unmarked = measured.with_columns(offer_design_mean=pl.lit(None, pl.Float64))
    fit = lambda f: cross_fits(design(f, features, cutoff=CUTOFF, periods=8, max_rows=4000, seed=0), folds=2, seed=0)[0]  # noqa: E731
    assert fit(measured).offer_columns is not None
    assert fit(measured).offer_columns == fit(frame).offer_columns
    assert fit(unmarked).offer_columns is None


def test_a_window_whose_every_offer_a_design_drew_needs_no_offer_model(panel):
    """Every row randomised (a retailer that ran the experiment through the whole window): there is
    nothing to judge the offer model's level by; every residual is the design's, and the fit runs."""
    frame, features = panel
    rng = np.random.default_rng(1)
    randomised = frame.with_columns(
        offer_pct=pl.Series(rng.choice([0.0, 20.0, 40.0], frame.height)).cast(frame.schema["offer_pct"]), offer_design_mean=pl.lit(20.0)
    )
    assert item_period_columns(randomised.clear(), control_columns(randomised, features)) is None
    d = design(randomised, features, cutoff=CUTOFF, periods=8, max_rows=4000, seed=0)
    fit = cross_fits(d, folds=2, seed=0)[0]
    assert fit.offer_columns is None
    np.testing.assert_allclose(fit.t_res, d.T - 20.0)
