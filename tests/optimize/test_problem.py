"""The slopes the optimiser reads (optimize/problem.py): optimize.response_caution "change" values a
move from the status quo at the pessimistic quantile for its direction."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit
from scipy.stats import norm

from offerwise.config import OptimizeConfig
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.offers import optimize_category
from offerwise.optimize.problem import ChangeSlopes, response, slopes

LEVELS = CategoryLevels("config", (0.0, 10.0, 20.0, 30.0), (0.0, 10.0, 20.0, 30.0), (0.0, 30.0))
MEAN, SD = 0.012, 0.008  # at the mean a 30 % offer is worth cutting (removal saves more than it loses), at its 75th percentile less so


def _pairs(n: int = 40, seed: int = 0) -> pl.DataFrame:
    """One pair per consumer, each at a 30 % status quo offer."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "customer_id": np.arange(n), "item_id": 1, "category": "A", "price": 10.0, "reference_offer_pct": 30.0,
        "probability": rng.uniform(0.25, 0.35, n), "threshold": 0.3, "elasticity": 0.0, "category_a": 0.04, "pair_slope": MEAN,
        "dml_slope": MEAN, "dml_slope_sd": SD, "dml_slope_category_se": 0.002, "category_share": 1.0, "cross_slope": 0.0,
    })  # fmt: skip


def test_change_caution_takes_the_lower_quantile_where_an_offer_rises_and_the_upper_where_it_falls() -> None:
    pairs = _pairs(3)
    slope, ends = slopes(pairs, "dml", response_quantile=0.25, response_caution="change", retention_probability=0.9)
    z = norm.ppf(0.75)
    assert isinstance(slope, ChangeSlopes)
    assert np.allclose(slope.rise, MEAN - z * SD) and np.allclose(slope.fall, MEAN + z * SD) and np.allclose(slope.central, MEAN)
    half = norm.ppf(0.95) * 0.002
    assert np.allclose(ends[0], MEAN - half) and np.allclose(ends[1], MEAN + half)  # the retention guard's interval: around the mean
    f, k = np.full(3, 0.3), np.full(3, 30.0)
    prob = response("dml", f, k, slope, np.array([[0.0, 30.0, 50.0]] * 3))
    assert np.allclose(prob[:, 0], expit(logit(0.3) - 30 * (MEAN + z * SD)))  # a cut loses at the upper quantile
    assert np.allclose(prob[:, 1], 0.3)
    assert np.allclose(prob[:, 2], expit(logit(0.3) + 20 * (MEAN - z * SD)))  # a rise gains at the lower one


@pytest.mark.parametrize("decision", ["consumer_category", "pair"])
def test_at_the_median_the_change_caution_decides_as_the_point_estimate(decision: str) -> None:
    pairs = _pairs()
    cfg = OptimizeConfig(decision=decision, retention=0.5, retention_probability=0.0)
    plain, _ = optimize_category(pairs, cfg, LEVELS)
    change, _ = optimize_category(pairs, cfg.model_copy(update={"response_caution": "change"}), LEVELS)
    assert plain.equals(change)


@pytest.mark.parametrize("decision", ["consumer_category", "pair"])
def test_the_change_caution_cuts_a_status_quo_offer_less_than_the_slope_caution(decision: str) -> None:
    """The slope caution's low slope makes a cut look cheap (fewer buyers lost): it cuts deeper than the
    mean, the change caution less deep."""
    pairs = _pairs()
    cfg = OptimizeConfig(decision=decision, retention=0.5, retention_probability=0.0, response_quantile=0.25)
    mean_offer = {}
    for caution, quantile in (("slope", 0.5), ("slope", 0.25), ("change", 0.25)):
        offers, row = optimize_category(pairs, cfg.model_copy(update={"response_caution": caution, "response_quantile": quantile}), LEVELS)
        assert row["status"] == "ok"
        mean_offer[caution, quantile] = offers.get_column("recommended_offer_pct").mean()
    assert mean_offer["slope", 0.25] <= mean_offer["slope", 0.5] < mean_offer["change", 0.25] <= 30.0
