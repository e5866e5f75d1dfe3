"""Retention with a stated probability (optimize.retention_probability, optimize/problem.py): the plan
keeps the retention target for every category slope in its central interval, not only at the point."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit
from scipy.stats import norm

from offerwise.config import OptimizeConfig
from offerwise.errors import InputError
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.offers import optimize_category
from offerwise.optimize.problem import build

SE = 0.01  # the category slope's standard error


def _category(n: int = 60, seed: int = 0) -> pl.DataFrame:
    """Half the pairs barely respond to offers (slope 0.01), half strongly (0.06); all at a 30 % plan."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "customer_id": np.arange(n), "item_id": 1, "category": "A", "price": rng.uniform(2, 10, n), "reference_offer_pct": 30.0,
        "probability": rng.uniform(0.2, 0.6, n), "threshold": 0.3, "elasticity": 0.5, "category_a": 0.04, "pair_slope": 0.05,
        "dml_slope": np.where(np.arange(n) % 2 == 0, 0.01, 0.06), "dml_slope_sd": 0.0, "dml_slope_category_se": SE,
    })  # fmt: skip


def _retention(pairs: pl.DataFrame, offers: np.ndarray, shift: float) -> float:
    """Mean purchase probability of the offers if the category slope were shifted by `shift`."""
    f, k = pairs.get_column("probability").to_numpy(), pairs.get_column("reference_offer_pct").to_numpy()
    slope = np.maximum(pairs.get_column("dml_slope").to_numpy() + shift, 0.0)
    return float(expit(logit(f) + slope * (offers - k)).mean())


def test_the_point_view_plan_breaks_retention_inside_the_interval_and_the_chance_constrained_plan_does_not() -> None:
    """A costly discount (unit cost 60 % of price) makes the optimiser cut offers until retention binds.
    The point view's plan then loses retention when the slope is steeper than estimated (its cut offers
    lose more buyers); the 90 % plan keeps it over the whole 90 % interval."""
    pairs = _category()
    z = norm.ppf(0.95) * SE
    shifts = np.linspace(-z, z, 9)
    plans = {}
    for probability in (0.0, 0.9):
        chosen, row = optimize_category(
            pairs, OptimizeConfig(retention_probability=probability, unit_cost_share=0.6), CategoryLevels.paper((5.0, 55.0))
        )
        assert row["status"] == "ok"
        plans[probability] = (chosen.get_column("recommended_offer_pct").to_numpy(), row)
    target = plans[0.0][1]["retention_target"]
    assert plans[0.9][1]["retention_target"] == pytest.approx(target)  # the same target: the status quo's
    point = [_retention(pairs, plans[0.0][0], s) for s in shifts]
    chance = [_retention(pairs, plans[0.9][0], s) for s in shifts]
    assert point[len(shifts) // 2] == pytest.approx(target, abs=1e-3)  # binding at the point estimate
    assert min(point) < target - 0.01  # ... and broken at a slope inside the interval
    assert min(chance) >= target - 1e-9
    assert plans[0.9][1]["retention_low_after"] >= target - 1e-9
    assert plans[0.9][1]["objective_after"] < plans[0.0][1]["objective_after"]  # the guarantee costs revenue in the model's view


def _build(pairs: pl.DataFrame, **options):
    """The dml response's matrices over the paper's grid in a 5-55 % range."""
    return build(
        pairs, response_kind="dml", objective="expected", levels=CategoryLevels.paper((5.0, 55.0)), unit_cost_share=None, **options
    )


def test_retention_low_is_the_smaller_end_and_equals_the_point_view_at_the_status_quo() -> None:
    pairs = _category(n=6)
    m = _build(pairs, retention_probability=0.9)
    assert (m.retention_low <= m.retention + 1e-12).all()
    rows = np.arange(pairs.height)
    assert np.allclose(m.retention_low[rows, m.status_quo], m.retention[rows, m.status_quo])  # o = k: no slope dependence
    wider = _build(pairs, retention_probability=0.99)
    assert (wider.retention_low <= m.retention_low + 1e-12).all()
    none = _build(pairs)
    assert none.retention_low is None and none.constrained is none.retention
    zero = _build(pairs, retention_probability=0.0)
    assert np.allclose(zero.retention_low, zero.retention)  # probability 0: the interval is the point


def test_retention_probability_needs_the_category_se() -> None:
    pairs = _category(n=4).drop("dml_slope_category_se")
    with pytest.raises(InputError, match="retention_probability"):
        _build(pairs, retention_probability=0.9)
