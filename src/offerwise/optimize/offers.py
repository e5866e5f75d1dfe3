"""Optimise one category's offers and report the result against the status quo."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.config import OptimizeConfig
from offerwise.optimize import consumer_category as units
from offerwise.optimize.inputs import PAIR_COLUMNS, cross_category_sensitivity
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.problem import Matrices, build, slope_options
from offerwise.optimize.shards import ShardedSolver
from offerwise.optimize.solvers import InfeasibleError, Solution, solve_lagrangian, solve_milp

OFFER_COLUMNS = [
    *PAIR_COLUMNS,
    "recommended_offer_pct",
    "eta",
    "predicted_purchase",
    "expected_revenue",
]


def _metrics(m: Matrices, pairs: pl.DataFrame, choice: np.ndarray) -> dict[str, float]:
    rows = np.arange(choice.size)
    p = m.prob[rows, choice]
    price = pairs.get_column("price").to_numpy()
    offers = m.offers[rows, choice]
    threshold = pairs.get_column("threshold").to_numpy()
    weight = price * p
    return {
        "objective": float(m.value[rows, choice].sum()),
        "retention": float(m.retention[rows, choice].sum() / max(choice.size, 1)),
        "expected_purchases": float(p.sum()),
        "pairs_above_cutoff": float((p >= threshold).mean()) if choice.size else float("nan"),
        "expected_revenue": float((p * price * (1 - offers / 100)).sum()),
        "weighted_offer_pct": float((offers * weight).sum() / weight.sum()) if weight.sum() > 0 else 0.0,
        "retention_low": float(m.constrained[rows, choice].sum() / max(choice.size, 1)),  # what the constraint counts
    }


@dataclass
class Problem:
    """One category's matrices, its status-quo metrics and its share of the coupling targets."""

    pairs: pl.DataFrame
    levels: CategoryLevels
    m: Matrices
    before: dict[str, float]
    R: float  # retention target (sum over pairs)
    B: float | None  # promotion budget


def decision(cfg: OptimizeConfig, levels: list[CategoryLevels] | None = None) -> str:
    """How offers are decided: per consumer-category, or per pair (asked for, or under the paper's
    levels, whose grid is each pair's own)."""
    paper = cfg.levels == "paper" or any(lv.allowed is None for lv in levels or [])
    return "pair" if paper else cfg.decision


def category_problem(pairs: pl.DataFrame, cfg: OptimizeConfig, levels: CategoryLevels) -> Problem:
    """pairs: one category's inputs (see problem.build)."""
    m = build(
        pairs,
        response_kind=cfg.response,
        objective=cfg.objective,
        levels=levels,
        unit_cost_share=cfg.unit_cost_share,
        **slope_options(cfg),
    )
    before = _metrics(m, pairs, m.status_quo)
    n = pairs.height
    R = cfg.retention * before["retention"] * n if cfg.retention_mode == "relative" else cfg.retention * n
    B = None if cfg.budget is None else cfg.budget * float(m.spend[np.arange(n), m.status_quo].sum())
    return Problem(pairs, levels, m, before, R, B)


def _solve(m: Matrices, R: float, B: float | None, customers: pl.Series, cfg: OptimizeConfig, sharded: ShardedSolver | None) -> Solution:
    """The target is the status quo's point-view retention; the constraint counts retention_low where set (problem.py)."""
    spend = None if B is None else m.spend
    if sharded is not None and cfg.solver != "milp":
        return sharded.solve(m.value, m.constrained, m.allowed, R, spend, B, customers)
    if cfg.solver == "milp":
        return solve_milp(m.value, m.constrained, m.allowed, R, spend, B, time_limit=cfg.milp_time_limit)
    return solve_lagrangian(m.value, m.constrained, m.allowed, R, spend, B)


def _head(problem: Problem | units.BundleProblem, cfg: OptimizeConfig) -> dict:
    pairs, n = problem.pairs, problem.pairs.height
    summary = {
        "category": pairs.get_column("category").first() if n else None,
        "response": cfg.response,
        "objective_form": cfg.objective,
        "pairs": n,
        "offer_min": problem.levels.offer_range[0],
        "offer_max": problem.levels.offer_range[1],
    }
    summary |= {f"{k}_before": v for k, v in problem.before.items()} | {"retention_target": problem.R / max(n, 1)}
    low = problem.low if isinstance(problem, units.BundleProblem) else problem.m.retention_low is not None
    summary["retention_probability"] = cfg.retention_probability if low else None
    head = {"levels": problem.levels.text(), "levels_source": problem.levels.source, "retention_scope": cfg.retention_scope}
    return summary | head | {"decision": decision(cfg, [problem.levels])}


def _result(problem: Problem, cfg: OptimizeConfig, sol: Solution, choice: np.ndarray) -> tuple[pl.DataFrame, dict]:
    """The category's offers and summary row under `choice` (its rows of the solution `sol`)."""
    m, pairs, rows = problem.m, problem.pairs, np.arange(choice.size)
    offers = pairs.with_columns(
        binding=pl.Series(binding(m, choice, budget=problem.B is not None)),
        recommended_offer_pct=pl.Series(m.offers[rows, choice]),
        eta=pl.Series(m.eta[rows, choice]).fill_nan(None),
        predicted_probability=pl.Series(m.prob[rows, choice]),
    )
    return _offers_and_summary(problem, cfg, sol, offers, _metrics(m, pairs, choice), {})


def _bundle_result(problem: units.BundleProblem, cfg: OptimizeConfig, sol: Solution, chosen: np.ndarray) -> tuple[pl.DataFrame, dict]:
    offers, after, spread = units.result(problem, chosen)
    return _offers_and_summary(problem, cfg, sol, offers, after, spread)


def _offers_and_summary(
    problem, cfg: OptimizeConfig, sol: Solution, offers: pl.DataFrame, after: dict, spread: dict
) -> tuple[pl.DataFrame, dict]:
    offers = offers.with_columns(
        predicted_purchase=(pl.col("predicted_probability") >= pl.col("threshold")).cast(pl.Int8),
        expected_revenue=pl.col("predicted_probability") * pl.col("price") * (1 - pl.col("recommended_offer_pct") / 100),
    )
    summary = _head(problem, cfg) | {f"{k}_after": v for k, v in after.items()}
    summary |= {
        "status": "ok",
        "solver": sol.solver,
        "gap": sol.gap,
        "bound": sol.bound,
        "seconds": sol.seconds,
        "retention_multiplier": sol.multiplier,
        "no_offer_share": float((offers.get_column("recommended_offer_pct") == 0).mean()) if offers.height else float("nan"),
    }
    return offers.select(*OFFER_COLUMNS, "predicted_probability", "binding"), summary | spread


def _failed(problem: Problem, cfg: OptimizeConfig, exc: InfeasibleError, n: int) -> dict:
    return _head(problem, cfg) | {"status": f"infeasible: {exc}", "best_achievable_retention": exc.best_retention / max(n, 1)}


def optimize_category(
    pairs: pl.DataFrame, cfg: OptimizeConfig, levels: CategoryLevels, *, sharded: ShardedSolver | None = None
) -> tuple[pl.DataFrame | None, dict]:
    """pairs: one category's inputs (see problem.build). Returns (offers, summary row). With
    `sharded`, the Lagrangian solver runs over consumer shards (optimize/shards.py)."""
    if decision(cfg, [levels]) == "consumer_category":
        return _optimize_units([units.bundle_problem(pairs, cfg, levels)], cfg)[0]
    problem = category_problem(pairs, cfg, levels)
    try:
        sol = _solve(problem.m, problem.R, problem.B, pairs.get_column("customer_id"), cfg, sharded)
    except InfeasibleError as exc:
        return None, _failed(problem, cfg, exc, pairs.height)
    return _result(problem, cfg, sol, sol.choice)


def _optimize_units(problems: list[units.BundleProblem], cfg: OptimizeConfig) -> list[tuple[pl.DataFrame | None, dict]]:
    """Consumer-category problems under one retention target (and budget): their sum."""
    R = sum(p.R for p in problems)
    B = None if not problems or problems[0].B is None else sum(p.B for p in problems)
    try:
        sol, chosen = units.solve(problems, R, B, cfg)
    except InfeasibleError as exc:
        return [(None, _failed(p, cfg, exc, p.pairs.height)) for p in problems]
    return [_bundle_result(p, cfg, sol, c) for p, c in zip(problems, chosen, strict=True)]


def optimize_all(
    inputs: pl.DataFrame,
    cfg: OptimizeConfig,
    levels: dict[str, CategoryLevels],
    *,
    sharded: ShardedSolver | None = None,
    without_rules: bool = False,
) -> list[tuple[pl.DataFrame | None, dict]]:
    """(offers, summary row) per category of the inputs, in their order: one retention target per
    category, or under retention_scope = "plan" one over the whole plan (one multiplier). With
    `without_rules`, each row also gets expected_revenue_without_rules: the same problem with every
    level of the grid allowed (what the rules cost, in the model's view)."""
    route = decision(cfg, list(levels.values()))
    if route == "consumer_category" and "cross_category_slope" in inputs.columns:
        inputs = cross_category_sensitivity(inputs, cfg.unit_cost_share)
    groups = [(c, g) for (c,), g in inputs.group_by("category", maintain_order=True)]
    free = cfg.model_copy(update={"retention_scope": "category"})
    unconstrained = lambda: [optimize_category(g, free, levels[c].without_rules(), sharded=sharded)[1] for c, g in groups]  # noqa: E731
    # Without a sharded solver, the rule-free problem (the report's "what the rules cost") is solved
    # beside the plan's in a second thread: both are numpy's time, and independent.
    with ThreadPoolExecutor(max_workers=1) if without_rules and sharded is None else nullcontext() as pool:
        free_rows = pool.submit(unconstrained) if pool is not None else None
        if cfg.retention_scope == "category":
            results = [optimize_category(g, cfg, levels[c], sharded=sharded) for c, g in groups]
        elif route == "consumer_category":
            results = _optimize_units([units.bundle_problem(g, cfg, levels[c]) for c, g in groups], cfg)
        else:
            results = _optimize_plan([category_problem(g, cfg, levels[c]) for c, g in groups], cfg, sharded)
        if without_rules:
            rows = free_rows.result() if free_rows is not None else unconstrained()
            for (_, row), free_row in zip(results, rows, strict=True):
                row["expected_revenue_without_rules"] = free_row.get("expected_revenue_after", float("nan"))
    return results


def _optimize_plan(problems: list[Problem], cfg: OptimizeConfig, sharded: ShardedSolver | None) -> list[tuple[pl.DataFrame | None, dict]]:
    """One retention target (and budget) over every category's pairs: their matrices side by side,
    levels a category lacks forbidden, one solve."""
    if not problems:
        return []
    width = max(p.m.value.shape[1] for p in problems)
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)  # noqa: E731
    stack = lambda name, fill: np.concatenate([pad(getattr(p.m, name), fill) for p in problems])  # noqa: E731
    R = sum(p.R for p in problems)
    B = None if problems[0].B is None else sum(p.B for p in problems)
    merged = Matrices(
        *(stack(name, 0.0) for name in ("offers", "eta", "prob", "value", "retention", "spend")),
        stack("allowed", False),
        np.concatenate([p.m.status_quo for p in problems]),
        None if problems[0].m.retention_low is None else stack("retention_low", 0.0),
    )
    customers = pl.concat([p.pairs.get_column("customer_id") for p in problems])
    try:
        sol = _solve(merged, R, B, customers, cfg, sharded)
    except InfeasibleError as exc:
        return [(None, _failed(p, cfg, exc, p.pairs.height)) for p in problems]
    bounds = np.cumsum([0] + [p.pairs.height for p in problems])
    return [_result(p, cfg, sol, sol.choice[a:b]) for p, a, b in zip(problems, bounds[:-1], bounds[1:], strict=True)]


def binding(m: Matrices, choice: np.ndarray, *, budget: bool) -> np.ndarray:
    """What decided each pair's offer: "range edge" (its own best level lies outside the offer range
    and it sits on the edge), "retention" or "budget" (a constraint moved it off its best level in
    range: to more retention, or to less spend), else "none"."""
    rows = np.arange(choice.size)
    free = m.value.argmax(axis=1)  # best level ignoring the range
    in_range = np.where(m.allowed, m.value, -np.inf).argmax(axis=1)
    moved = choice != in_range
    more_retention = m.constrained[rows, choice] > m.constrained[rows, in_range] + 1e-12
    out = np.full(choice.size, "none", dtype=object)
    out[(~m.allowed[rows, free]) & (choice == in_range)] = "range edge"
    out[moved & (more_retention | ~budget)] = "retention"
    out[moved & ~more_retention & budget] = "budget"
    return out
