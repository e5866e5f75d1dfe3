from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.optimize.levels import CategoryLevels, category_levels, history_levels, unconstrained_grid
from offerwise.optimize.offers import optimize_all, optimize_category


@pytest.mark.parametrize(
    ("offers", "expected_levels", "expected_cap"),
    [
        ([0.0, 0.0], (0.0,), 0.0),  # a category that never ran an offer: no offer only
        ([0.0, 9.0, 11.0, 19.7, 20.0], (0.0, 10.0, 20.0), 19.955),  # snapped to 5 %, 0 always in
        (list(np.full(99, 20.0)) + [100.0], (0.0, 20.0), 20.0),  # one free item does not open 100 % offers
        ([24.0, 25.0, 26.0, 42.6], (0.0, 25.0), None),  # 42.6 lies above the 95th percentile (40.1): not a level
    ],
)
def test_history_levels(offers, expected_levels, expected_cap) -> None:
    levels, cap = history_levels(np.array(offers), step=5.0, max_percentile=95.0)
    assert levels == expected_levels
    if expected_cap is not None:
        assert cap == pytest.approx(expected_cap)


def test_history_levels_never_go_deeper_than_what_ran() -> None:
    rng = np.random.default_rng(0)
    offers = rng.uniform(0, 37, 500)
    levels, cap = history_levels(offers, step=5.0, max_percentile=95.0)
    assert max(levels) <= np.round(np.percentile(offers[offers > 0], 95) / 5) * 5
    assert 0.0 in levels


def _pairs(k: list[float], f: list[float], slope: list[float], category: str = "A") -> pl.DataFrame:
    n = len(k)
    return pl.DataFrame({
        "customer_id": list(range(n)), "item_id": [1] * n, "category": [category] * n, "price": [10.0] * n,
        "reference_offer_pct": k, "probability": f, "threshold": [0.3] * n, "elasticity": [0.5] * n,
        "category_a": [0.04] * n, "pair_slope": slope, "cutoff_offer_pct": [20.0, 25.0] * (n // 2) + [22.0] * (n % 2),
    })  # fmt: skip


def test_a_category_that_ran_only_20_to_25_percent_still_gives_no_offer_where_0_is_best() -> None:
    """The cutoff fortnight ran only 20-25 % offers; the history ran 0-40 %. Pairs that barely respond
    (slope 0) are worth most at no offer: the history's levels give them 0, the paper's range cannot."""
    pairs = _pairs([20.0] * 6, [0.3] * 6, [0.0, 0.0, 0.0, 0.08, 0.08, 0.08])
    history = pl.DataFrame({"category": "A", "offer_pct": [0.0, 10.0, 20.0, 25.0, 30.0, 40.0] * 10})
    cfg = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, retention=0.5)
    levels = category_levels(pairs, history, cfg)
    assert levels["A"].allowed == (0.0, 10.0, 20.0, 25.0, 30.0, 40.0)
    offers, summary = optimize_category(pairs, cfg, levels["A"])
    chosen = offers.get_column("recommended_offer_pct").to_list()
    assert chosen[:3] == [0.0, 0.0, 0.0] and summary["no_offer_share"] == pytest.approx(0.5)
    paper = category_levels(pairs, history, cfg.model_copy(update={"levels": "paper"}))
    offers, _ = optimize_category(pairs, cfg, paper["A"])
    assert offers.get_column("recommended_offer_pct").min() >= 20.0  # one fortnight's range: never below 20 %


def test_the_status_quo_is_always_allowed_and_valued_at_its_own_offer() -> None:
    pairs = _pairs([17.3, 12.0], [0.3, 0.2], [0.02, 0.02])
    levels = CategoryLevels("config", (0.0, 10.0, 20.0), (0.0, 10.0, 20.0), (0.0, 20.0))
    cfg = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, retention=1.0)
    offers, summary = optimize_category(pairs, cfg, levels)
    assert summary["status"] == "ok"
    assert set(offers.get_column("recommended_offer_pct").to_list()) <= {0.0, 10.0, 20.0, 17.3, 12.0}
    expected_before = sum(10 * f * (1 - k / 100) for k, f in ((17.3, 0.3), (12.0, 0.2)))
    assert summary["expected_revenue_before"] == pytest.approx(expected_before)


def test_explicit_levels_and_rules_override_history() -> None:
    pairs = pl.concat([_pairs([10.0, 10.0], [0.3, 0.3], [0.03, 0.03], c) for c in ("A", "B")])
    history = pl.DataFrame({"category": ["A", "B"] * 5, "offer_pct": [30.0] * 10})
    rules = pl.DataFrame({"category": ["B"], "levels": [[0.0, 15.0]]})
    levels = category_levels(pairs, history, OptimizeConfig(levels=[0.0, 5.0, 50.0]), rules)
    assert levels["A"].allowed == (0.0, 5.0, 50.0) and levels["A"].source == "config"
    assert levels["B"].allowed == (0.0, 15.0) and levels["B"].source == "offer_rules"
    assert set(levels["A"].allowed) <= set(levels["A"].grid) and 15.0 in levels["B"].grid


def test_unconstrained_grid_reaches_the_deepest_offer_run() -> None:
    history = pl.DataFrame({"category": ["A", "B"], "offer_pct": [12.0, 41.0]})
    assert unconstrained_grid(history, 5.0) == tuple(float(v) for v in range(0, 50, 5))


def test_plan_scope_keeps_one_retention_target_over_every_category() -> None:
    """Category A gains from deep offers, B barely: one target over the plan lets A carry B's retention."""
    a = _pairs([20.0] * 4, [0.3] * 4, [0.06] * 4, "A")
    b = _pairs([20.0] * 4, [0.3] * 4, [0.001] * 4, "B")
    pairs = pl.concat([a, b])
    grid = tuple(float(v) for v in range(0, 55, 5))
    levels = {c: CategoryLevels("config", grid, grid, (0.0, 50.0)) for c in ("A", "B")}
    base = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, retention=1.0)
    results = {}
    for scope in ("category", "plan"):
        rows = optimize_all(pairs, base.model_copy(update={"retention_scope": scope}), levels)
        assert all(row["status"] == "ok" for _, row in rows)
        offers = pl.concat([o for o, _ in rows])
        retained = {c: g.get_column("predicted_probability").sum() for (c,), g in offers.group_by("category")}
        results[scope] = (retained, sum(row["objective_after"] for _, row in rows))
    total = lambda scope: sum(results[scope][0].values())  # noqa: E731
    assert total("plan") >= 0.3 * 8 - 1e-6  # the plan's target holds over the whole plan
    assert results["category"][0]["B"] >= 0.3 * 4 - 1e-6  # the category target holds in each
    assert results["plan"][1] >= results["category"][1] - 1e-9  # a looser coupling never earns less
    assert results["plan"][0]["B"] < 0.3 * 4 - 1e-6  # and here B gives up retention that A makes up


def test_without_rules_reports_what_the_rules_cost() -> None:
    pairs = _pairs([20.0] * 4, [0.3] * 4, [0.05] * 4)
    grid = tuple(float(v) for v in range(0, 55, 5))
    levels = {"A": CategoryLevels("config", (0.0, 10.0), grid, (0.0, 10.0))}
    [(offers, row)] = optimize_all(pairs, OptimizeConfig(response="counterfactual", retention=0.5), levels, without_rules=True)
    assert row["expected_revenue_without_rules"] >= row["expected_revenue_after"] - 1e-9
