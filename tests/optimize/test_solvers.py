from __future__ import annotations

import functools
import itertools

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.optimize.levels import CategoryLevels, offer_range
from offerwise.optimize.offers import optimize_category
from offerwise.optimize.problem import build
from offerwise.optimize.solvers import InfeasibleError, LocalBlocks, PairBlock, Solution, solve_blocks, solve_lagrangian, solve_milp


def _instance(seed: int, n: int = 40, L: int = 8):
    rng = np.random.default_rng(seed)
    offers = np.linspace(0, 40, L)[None, :]
    p = np.clip(rng.random((n, 1)) * 0.5 + rng.random((n, 1)) * offers / 100, 0, 1)
    price = rng.uniform(1, 10, (n, 1))
    v, r, c = p * price * (1 - offers / 100), p, p * price * offers / 100
    allowed = rng.random((n, L)) > 0.15
    allowed[:, 0] = True
    return v, r, c, allowed


def _check(sol, v, r, c, allowed, R, B=None) -> None:
    """Every constraint, checked independently of the solvers."""
    rows = np.arange(v.shape[0])
    assert allowed[rows, sol.choice].all()
    assert r[rows, sol.choice].sum() >= R - 1e-6
    if B is not None:
        assert c[rows, sol.choice].sum() <= B + 1e-6
    assert sol.objective == pytest.approx(v[rows, sol.choice].sum())
    assert sol.bound >= sol.objective - 1e-9


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("with_budget", [False, True])
@pytest.mark.parametrize("method", ["hull", "bisection"])
def test_decomposition_matches_milp_within_its_certified_gap(seed: int, with_budget: bool, method: str) -> None:
    v, r, c, allowed = _instance(seed)
    R = 0.93 * np.where(allowed, r, -1).max(axis=1).sum()
    B = 0.7 * np.where(allowed, c, -1).max(axis=1).sum() if with_budget else None
    args = (c, B) if with_budget else (None, None)
    try:
        exact = solve_milp(v, r, allowed, R, *args)
    except InfeasibleError:
        with pytest.raises(InfeasibleError):
            solve_lagrangian(v, r, allowed, R, *args, method=method)
        return
    fast = solve_lagrangian(v, r, allowed, R, *args, method=method)
    _check(exact, v, r, c, allowed, R, B)
    _check(fast, v, r, c, allowed, R, B)
    assert fast.objective <= exact.objective + 1e-6
    assert fast.bound >= exact.objective - 1e-6  # an upper bound on the optimum
    assert fast.objective >= exact.objective - fast.gap * abs(fast.bound) - 1e-6
    assert fast.gap < 1e-3


@pytest.mark.parametrize("seed", range(6))
def test_hull_multiplier_is_the_lp_optimum_and_beats_or_ties_bisection_here(seed: int) -> None:
    """Retention only: the hull's bound is the LP relaxation's optimum, so no multiplier the bisection
    tries gives a lower one; on these instances its repaired choice is as good or better."""
    v, r, c, allowed = _instance(seed, n=200)
    R = 0.9 * np.where(allowed, r, -1).max(axis=1).sum()
    exact = solve_milp(v, r, allowed, R)
    fast, slow = solve_lagrangian(v, r, allowed, R), solve_lagrangian(v, r, allowed, R, method="bisection")
    _check(fast, v, r, c, allowed, R)
    assert exact.objective - 1e-6 <= fast.bound <= slow.bound + 1e-9
    assert fast.objective >= slow.objective - 1e-9
    assert fast.multiplier > 0


@pytest.mark.parametrize("with_budget", [False, True])
def test_blocks_give_the_one_block_solution(with_budget: bool) -> None:
    """Pairs split over LocalBlocks of unequal sizes (one empty): the same objective as one block."""
    v, r, c, allowed = _instance(4, n=500)
    R = 0.9 * np.where(allowed, r, -1).max(axis=1).sum()
    B = 0.7 * np.where(allowed, c, -1).max(axis=1).sum() if with_budget else None
    cc = c if with_budget else None
    whole = solve_lagrangian(v, r, allowed, R, cc, B)
    cuts = [0, 7, 7, 180, 420, 500]
    blocks = LocalBlocks([PairBlock(v[a:b], r[a:b], allowed[a:b], None if cc is None else cc[a:b]) for a, b in itertools.pairwise(cuts)])
    parts = solve_blocks(blocks, R, B)
    sol = Solution(np.concatenate(parts.choice), parts.objective, parts.bound, parts.solver, parts.seconds)
    _check(sol, v, r, c, allowed, R, B)
    assert parts.objective == pytest.approx(whole.objective, rel=1e-9)
    assert parts.bound == pytest.approx(whole.bound, rel=1e-9)
    assert parts.multiplier == pytest.approx(whole.multiplier, rel=1e-9)


@pytest.mark.parametrize("with_budget", [False, True])
def test_milp_without_a_solution_in_its_time_limit_falls_back_to_a_feasible_one(with_budget: bool) -> None:
    v, r, c, allowed = _instance(0, n=400)
    R = 0.93 * np.where(allowed, r, -1).max(axis=1).sum()
    B = 0.7 * np.where(allowed, c, -1).max(axis=1).sum() if with_budget else None
    args = (c, B) if with_budget else (None, None)
    sol = solve_milp(v, r, allowed, R, *args, time_limit=1e-9)  # stops before any incumbent
    _check(sol, v, r, c, allowed, R, B)
    assert "no feasible solution within optimize.milp_time_limit" in sol.solver


@pytest.mark.parametrize("method", ["milp", "hull", "bisection"])
def test_unreachable_retention_reports_the_best_achievable(method: str) -> None:
    v, r, c, allowed = _instance(0)
    best = np.where(allowed, r, -1).max(axis=1).sum()
    solve = solve_milp if method == "milp" else functools.partial(solve_lagrangian, method=method)
    with pytest.raises(InfeasibleError, match=f"the retention target {best * 1.01:.2f} is unreachable; at most {best:.2f}") as info:
        solve(v, r, allowed, best * 1.01)
    assert info.value.best_retention == pytest.approx(best)


@pytest.mark.parametrize("method", ["hull", "bisection"])
def test_empty_offer_range_is_infeasible(method: str) -> None:
    v, r, c, allowed = _instance(1)
    with pytest.raises(InfeasibleError, match=r"^40 pair\(s\) have no offer level inside the offer range\.$"):
        solve_lagrangian(v, r, np.zeros_like(allowed), 0.0, method=method)


@pytest.mark.parametrize("method", ["hull", "bisection"])
def test_a_budget_below_the_cheapest_spend_is_infeasible(method: str) -> None:
    v, r, c, allowed = _instance(2)
    c = c + 0.5  # no level is free
    cheapest = np.where(allowed, c, np.inf).min(axis=1).sum()
    with pytest.raises(
        InfeasibleError, match=f"the promotion budget {cheapest / 2:.2f} is below the cheapest possible spend {cheapest:.2f}"
    ):
        solve_lagrangian(v, r, allowed, 0.0, c, cheapest / 2, method=method)


def _pairs(k: list[float], f: list[float], threshold: float = 0.3) -> pl.DataFrame:
    n = len(k)
    return pl.DataFrame({
        "customer_id": list(range(n)), "item_id": [1] * n, "category": ["A"] * n, "price": [10.0] * n,
        "reference_offer_pct": k, "probability": f, "threshold": [threshold] * n, "elasticity": [0.5] * n,
        "category_a": [0.04] * n, "pair_slope": [0.05] * n,
    })  # fmt: skip


def test_indicator_form_retention_never_binds() -> None:
    """Paper's form: tipping a pair over its cut-off always adds revenue, so the unconstrained
    optimum already retains every pair that can be retained; the constraint is slack or infeasible."""
    pairs = _pairs([10, 20, 30, 15, 25], [0.1, 0.25, 0.35, 0.28, 0.05])
    m = build(pairs, response_kind="linear", objective="indicator", levels=CategoryLevels.paper((0, 60)), unit_cost_share=None)
    free = solve_lagrangian(m.value, m.retention, m.allowed, 0.0)
    best = np.where(m.allowed, m.retention, -1).max(axis=1).sum()
    assert m.retention[np.arange(5), free.choice].sum() == best


def test_expected_form_trades_revenue_for_retention() -> None:
    pairs = _pairs([10, 20, 30, 15, 25], [0.1, 0.25, 0.35, 0.28, 0.05])
    m = build(pairs, response_kind="counterfactual", objective="expected", levels=CategoryLevels.paper((0, 60)), unit_cost_share=None)
    free = solve_lagrangian(m.value, m.retention, m.allowed, 0.0)
    high = solve_lagrangian(m.value, m.retention, m.allowed, np.where(m.allowed, m.retention, -1).max(axis=1).sum() * 0.999)
    assert high.objective < free.objective  # binding: more retention costs revenue


@pytest.mark.parametrize(
    ("k", "f", "status"),
    [([0.0, 0.0, 0.0], [0.2, 0.3, 0.1], "ok"), ([20.0], [0.3], "ok"), ([], [], "ok")],
)
def test_degenerate_categories(k, f, status) -> None:
    pairs = _pairs(k, f).cast({"reference_offer_pct": pl.Float64, "probability": pl.Float64})
    offers, summary = optimize_category(pairs, OptimizeConfig(response="counterfactual"), CategoryLevels.paper((5.0, 50.0)))
    assert summary["status"] == status
    if k and all(v == 0 for v in k):  # k = 0 pairs move on the absolute grid inside the range
        assert offers.get_column("recommended_offer_pct").is_between(5.0, 50.0).all()
        assert offers.get_column("eta").null_count() == len(k)


def test_infeasible_category_is_reported_not_raised() -> None:
    offers, summary = optimize_category(
        _pairs([20.0, 30.0], [0.3, 0.4]), OptimizeConfig(response="counterfactual", retention=2.0), CategoryLevels.paper((5.0, 50.0))
    )
    assert offers is None and summary["status"].startswith("infeasible") and summary["best_achievable_retention"] > 0


def test_pairs_whose_relative_grid_misses_the_range_use_the_absolute_grid() -> None:
    # k = 1 % reaches at most 1.95 %: below a 5-50 % range, so the pair moves on 0, 5, 10, ... %.
    offers, summary = optimize_category(
        _pairs([1.0, 20.0], [0.2, 0.3]), OptimizeConfig(response="counterfactual"), CategoryLevels.paper((5.0, 50.0))
    )
    assert summary["status"] == "ok"
    by_k = dict(zip(offers.get_column("reference_offer_pct"), offers.get_column("recommended_offer_pct")))
    assert by_k[1.0] % 5 == 0 and 5.0 <= by_k[1.0] <= 50.0
    assert offers.filter(pl.col("reference_offer_pct") == 1.0).get_column("eta").item() is None


@pytest.mark.parametrize(
    ("offers", "expected"),
    [([42.69, 42.69, 42.69], (40.0, 45.0)), ([3.72, 3.73], (0.0, 5.0)), ([10.01], (10.0, 15.0)), ([0.0, 0.0], (0.0, 0.0))],
)
def test_a_range_with_no_grid_level_is_widened_to_the_step_around_it(offers, expected) -> None:
    assert offer_range(np.array(offers), (5.0, 95.0)) == pytest.approx(expected)


def test_a_range_with_grid_levels_is_kept_as_measured() -> None:
    o1, o2 = offer_range(np.array([1.0, 12.0, 20.0, 33.0, 44.0]), (0.0, 100.0))
    assert (o1, o2) == (1.0, 44.0)


def test_dml_response_uses_the_posterior_quantile_and_never_a_negative_slope() -> None:
    from offerwise.optimize.problem import build

    pairs = _pairs([20.0, 30.0], [0.3, 0.4]).with_columns(dml_slope=pl.Series([0.04, 0.01]), dml_slope_sd=pl.Series([0.01, 0.02]))
    mean = build(pairs, response_kind="dml", objective="expected", levels=CategoryLevels.paper((5.0, 50.0)), unit_cost_share=None)
    low = build(
        pairs,
        response_kind="dml",
        objective="expected",
        levels=CategoryLevels.paper((5.0, 50.0)),
        unit_cost_share=None,
        response_quantile=0.1,
    )
    assert (np.diff(mean.prob, axis=1) >= 0).all() and (np.diff(low.prob, axis=1) >= 0).all()  # monotone in the offer
    assert (low.prob[0, -1] - low.prob[0, 0]) < (mean.prob[0, -1] - mean.prob[0, 0])  # conservative: a flatter response
    assert np.allclose(low.prob[1], low.prob[1, 0])  # 0.01 - 1.28 x 0.02 < 0: floored at a flat response


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_budget", [False, True])
def test_solver_over_shards_gives_the_one_block_solution(seed: int, with_budget: bool) -> None:
    """Shards change only the order of sums: same offers, same objective to 1e-9."""
    from offerwise.config import RuntimeConfig
    from offerwise.optimize.shards import ShardedSolver

    v, r, c, allowed = _instance(seed, n=300)
    R = 0.9 * np.where(allowed, r, -1).max(axis=1).sum()
    B = 0.7 * np.where(allowed, c, -1).max(axis=1).sum() if with_budget else None
    whole = solve_lagrangian(v, r, allowed, R, c if with_budget else None, B)
    with ShardedSolver(RuntimeConfig(shards=5)) as solver:
        sharded = solver.solve(v, r, allowed, R, c if with_budget else None, B, np.arange(300) * 7 + 11)
    assert sharded.objective == pytest.approx(whole.objective, rel=1e-9)
    assert (sharded.choice == whole.choice).mean() > 0.99  # a tie in the greedy order may differ; the objective may not
    _check(sharded, v, r, c, allowed, R, B)


def test_ray_actors_solve_like_local_blocks(ray_cluster) -> None:
    from offerwise.config import RuntimeConfig
    from offerwise.optimize.shards import ShardedSolver

    v, r, c, allowed = _instance(3, n=400)
    R = 0.92 * np.where(allowed, r, -1).max(axis=1).sum()
    ids = np.arange(400) * 13 + 5
    with ShardedSolver(RuntimeConfig(shards=6)) as local, ShardedSolver(RuntimeConfig(shards=6, engine="ray")) as remote:
        a, b = local.solve(v, r, allowed, R, None, None, ids), remote.solve(v, r, allowed, R, None, None, ids)
    assert (a.choice == b.choice).all() and a.objective == b.objective and a.bound == b.bound
