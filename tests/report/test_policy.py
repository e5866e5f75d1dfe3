from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.report.policy import policy_score


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


def test_status_quo_scores_zero_and_the_oracle_does_not_lose() -> None:
    inputs, truth = _inputs()
    ours = inputs.select("customer_id", "item_id", "category", recommended_offer_pct="reference_offer_pct")
    table = policy_score(inputs, ours, truth, OptimizeConfig(response="counterfactual"), {"A": (5.0, 50.0), "B": (5.0, 50.0)})
    wide = table.pivot(on="policy", index="category", values="true_expected_revenue")
    assert wide.get_column("category").to_list() == ["A", "B", "all"]
    assert (wide["oracle"] > wide["status quo"]).all()  # the true response has room to gain
    assert table.get_column("score").to_numpy() == pytest.approx(0.0, abs=1e-9)
    parts = wide.filter(pl.col("category") != "all")
    assert wide.filter(pl.col("category") == "all")["oracle"].item() == pytest.approx(parts["oracle"].sum())
    retention = table.pivot(on="policy", index="category", values="true_retention")
    assert (retention["oracle"] >= retention["status quo"] - 1e-9).all()  # relative retention target 1.0 holds under the truth
