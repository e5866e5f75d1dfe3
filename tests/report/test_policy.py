from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.optimize.levels import CategoryLevels
from offerwise.report.policy import policy_score

GRID = tuple(float(v) for v in range(0, 55, 5))


def _inputs(n: int = 300, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    k = rng.choice([10.0, 20.0, 30.0], n)
    a, b = rng.uniform(0.02, 0.06, n), rng.uniform(-2.5, -0.5, n)
    p = 1 / (1 + np.exp(-(a * k + b)))
    inputs = pl.DataFrame({
        "customer_id": np.arange(n), "item_id": 1, "category": np.where(np.arange(n) < n // 2, "A", "B"), "price": rng.uniform(1, 5, n),
        "reference_offer_pct": k, "probability": p, "threshold": 0.5, "elasticity": 0.5, "category_a": 0.04, "pair_slope": 0.04, "offer_pct": k,
    })  # fmt: skip
    truth = pl.DataFrame({"customer_id": np.arange(n), "item_id": 1, "true_a": a, "true_b": b})
    return inputs, truth


def test_status_quo_scores_zero_and_the_oracles_do_not_lose() -> None:
    inputs, truth = _inputs()
    ours = inputs.select("customer_id", "item_id", "category", recommended_offer_pct="reference_offer_pct")
    levels = {c: CategoryLevels("config", (0.0, 10.0, 20.0, 30.0), GRID, (0.0, 30.0)) for c in ("A", "B")}
    table = policy_score(inputs, ours, truth, OptimizeConfig(response="counterfactual"), levels)
    wide = table.pivot(on="policy", index="category", values="true_expected_revenue")
    assert wide.get_column("category").to_list() == ["A", "B", "all"]
    assert (wide["rules oracle"] > wide["status quo"]).all()  # the true response has room to gain
    assert (wide["unconstrained oracle"] >= wide["rules oracle"] - 1e-9).all()  # more levels never earn less
    assert table.get_column("score").to_numpy() == pytest.approx(0.0, abs=1e-9)
    assert table.get_column("score_unconstrained").to_numpy() == pytest.approx(0.0, abs=1e-9)
    parts = wide.filter(pl.col("category") != "all")
    assert wide.filter(pl.col("category") == "all")["rules oracle"].item() == pytest.approx(parts["rules oracle"].sum())
    retention = table.pivot(on="policy", index="category", values="true_retention")
    for oracle in ("rules oracle", "unconstrained oracle"):  # relative retention target 1.0 holds under the truth
        assert (retention[oracle] >= retention["status quo"] - 1e-9).all()


def test_the_rules_oracle_scores_one_and_the_unconstrained_one_shows_what_the_rules_cost() -> None:
    """A plan equal to the rules oracle scores 1 against it; against the unconstrained oracle it
    scores below 1 when the rules forbid the best levels (here: 0 and 15 % only)."""
    inputs, truth = _inputs()
    levels = {c: CategoryLevels("config", (0.0, 15.0), GRID, (0.0, 15.0)) for c in ("A", "B")}
    cfg = OptimizeConfig(response="counterfactual")
    first = policy_score(
        inputs, inputs.select("customer_id", "item_id", "category", recommended_offer_pct="reference_offer_pct"), truth, cfg, levels
    )
    assert first.filter(pl.col("category") == "all", pl.col("policy") == "rules oracle").height == 1
    oracle_offers = _oracle_offers(inputs, truth, cfg, levels)
    table = policy_score(inputs, oracle_offers, truth, cfg, levels).filter(pl.col("category") == "all")
    assert table.get_column("score").first() == pytest.approx(1.0, abs=1e-9)
    assert table.get_column("score_unconstrained").first() < 0.95


def _oracle_offers(inputs, truth, cfg, levels) -> pl.DataFrame:
    from offerwise.report.policy import _oracle, _per_pair_truth

    chosen = _oracle(_per_pair_truth(inputs.join(truth, on=["customer_id", "item_id"]), None, None), cfg, levels)
    return chosen.join(inputs.select("customer_id", "item_id", "category"), on=["customer_id", "item_id"]).rename(
        {"offer": "recommended_offer_pct"}
    )


def test_a_score_is_nan_where_its_oracle_gains_nothing_over_the_status_quo() -> None:
    """An oracle held to a retention the status quo does not reach can lose; a plan that loses more
    must not score above 0 against it (two losses' ratio), so the score is NaN there, as where the
    oracle gains exactly nothing."""
    from offerwise.report.policy import _scores

    wide = pl.DataFrame({
        "category": ["gains", "loses", "flat"], "status quo": [100.0, 100.0, 100.0], "ours": [105.0, 80.0, 100.0],
        "rules oracle": [110.0, 95.0, 100.0],
    })  # fmt: skip
    scores = wide.select(*_scores(wide, {"rules oracle": "score", "unconstrained oracle": "score_unconstrained"}))
    assert scores.get_column("score").to_list()[0] == pytest.approx(0.5)
    assert np.isnan(scores.get_column("score").to_numpy()[1:]).all()
    assert np.isnan(scores.get_column("score_unconstrained").to_numpy()).all()  # that oracle was not solved
