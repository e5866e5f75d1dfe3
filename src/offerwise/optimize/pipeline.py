"""Optimise one category's offers and report the result against the status quo."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.config import OptimizeConfig
from offerwise.optimize.problem import ABSOLUTE, Matrices, build
from offerwise.optimize.shards import ShardedSolver
from offerwise.optimize.solvers import InfeasibleError, solve_lagrangian, solve_milp

OFFER_COLUMNS = [
    "customer_id",
    "item_id",
    "category",
    "price",
    "reference_offer_pct",
    "probability",
    "threshold",
    "elasticity",
    "recommended_offer_pct",
    "eta",
    "predicted_purchase",
    "expected_revenue",
]


def offer_range(offers: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """(o1, o2) from the non-zero offers of the category's pairs in the cutoff period (the latest known).

    A range with no 5-point level inside (a category with one or two discounted lines, e.g. 42.7-42.7 %)
    is widened to the 5-point step around it, so there is something to choose from.
    """
    nonzero = offers[offers > 0]
    if nonzero.size == 0:
        return (0.0, 0.0)
    lo, hi = (float(v) for v in np.percentile(nonzero, percentiles))
    step = float(ABSOLUTE[1] - ABSOLUTE[0])
    if np.floor(hi / step) * step < lo - 1e-9:
        lo, hi = float(np.floor(lo / step) * step), float(np.ceil(hi / step) * step)
    return lo, hi


def category_ranges(inputs: pl.DataFrame, percentiles: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """offer_range of every category in the optimiser inputs."""
    return {c: offer_range(g.get_column("cutoff_offer_pct").to_numpy(), percentiles) for (c,), g in inputs.group_by("category")}


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


def optimize_category(
    pairs: pl.DataFrame, cfg: OptimizeConfig, o_range: tuple[float, float], *, sharded: ShardedSolver | None = None
) -> tuple[pl.DataFrame | None, dict]:
    """pairs: one category's inputs (see problem.build). Returns (offers, summary row). With
    `sharded`, the Lagrangian solver runs over consumer shards (optimize/shards.py)."""
    category = pairs.get_column("category").first() if pairs.height else None
    summary: dict = {
        "category": category,
        "response": cfg.response,
        "objective_form": cfg.objective,
        "pairs": pairs.height,
        "offer_min": o_range[0],
        "offer_max": o_range[1],
    }
    m = build(
        pairs,
        response_kind=cfg.response,
        objective=cfg.objective,
        offer_range=o_range,
        unit_cost_share=cfg.unit_cost_share,
        pair_slope_weight=cfg.pair_slope_weight,
        response_quantile=cfg.response_quantile,
        retention_probability=cfg.retention_probability,
    )
    before = _metrics(m, pairs, m.status_quo)
    n = pairs.height
    R = cfg.retention * before["retention"] * n if cfg.retention_mode == "relative" else cfg.retention * n
    B = None if cfg.budget is None else cfg.budget * float(m.spend[np.arange(n), m.status_quo].sum())
    spend = None if B is None else m.spend
    solve = solve_milp if cfg.solver == "milp" else solve_lagrangian
    kwargs = {"time_limit": cfg.milp_time_limit} if cfg.solver == "milp" else {}
    summary |= {f"{k}_before": v for k, v in before.items()} | {"retention_target": R / max(n, 1)}
    summary["retention_probability"] = cfg.retention_probability if m.retention_low is not None else None
    try:  # the target is the status quo's point-view retention; the constraint counts retention_low where set (problem.py)
        if sharded is not None and cfg.solver != "milp":
            sol = sharded.solve(m.value, m.constrained, m.allowed, R, spend, B, pairs.get_column("customer_id"))
        else:
            sol = solve(m.value, m.constrained, m.allowed, R, spend, B, **kwargs)
    except InfeasibleError as exc:
        return None, summary | {"status": f"infeasible: {exc}", "best_achievable_retention": exc.best_retention / max(n, 1)}
    after = _metrics(m, pairs, sol.choice)
    rows = np.arange(n)
    offers = pairs.with_columns(
        binding=pl.Series(binding(m, sol.choice, budget=B is not None)),
        recommended_offer_pct=pl.Series(m.offers[rows, sol.choice]),
        eta=pl.Series(m.eta[rows, sol.choice]).fill_nan(None),
        predicted_probability=pl.Series(m.prob[rows, sol.choice]),
    ).with_columns(
        predicted_purchase=(pl.col("predicted_probability") >= pl.col("threshold")).cast(pl.Int8),
        expected_revenue=pl.col("predicted_probability") * pl.col("price") * (1 - pl.col("recommended_offer_pct") / 100),
    )
    summary |= {f"{k}_after": v for k, v in after.items()}
    summary |= {
        "status": "ok",
        "solver": sol.solver,
        "gap": sol.gap,
        "bound": sol.bound,
        "seconds": sol.seconds,
        "retention_multiplier": sol.multiplier,
    }
    return offers.select(*OFFER_COLUMNS, "predicted_probability", "binding"), summary


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
