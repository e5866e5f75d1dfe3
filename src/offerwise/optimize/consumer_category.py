"""The offer problem decided per consumer and category (optimize/bundles.py): one bundle per
consumer-category, the retention target (and budget) coupling them, solved exactly (MILP) or by the
Lagrangian solver with its certified gap."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.config import OptimizeConfig, OptionError
from offerwise.optimize import choice_model
from offerwise.optimize.bundles import (
    Options,
    PairArrays,
    Units,
    blocks,
    options_for,
    rows_of,
)
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.problem import ChangeSlopes, central, slope_options, slopes
from offerwise.optimize.solvers import NEG, LocalBlocks, Solution, solve_blocks, solve_milp


@dataclass
class BundleProblem:
    """One category's consumer-categories, their options and values, the status quo's metrics and the
    category's share of the coupling targets."""

    pairs: pl.DataFrame  # sorted by consumer and item
    levels: CategoryLevels
    arrays: PairArrays
    units: Units
    opts: Options
    values: dict[str, np.ndarray]
    before: dict[str, float]
    R: float
    B: float | None
    low: bool  # the constraint counts retention at the slope interval's worse end


def pair_arrays(
    pairs: pl.DataFrame,
    kind: str,
    objective: str,
    slope,
    ends,
    unit_cost_share: float | None,
    *,
    cross_effects: bool = True,
    others_quantile: float = 0.5,
) -> PairArrays:
    """pairs: one category's optimiser inputs sorted by consumer; category_share, total_share, cross_slope,
    cross_slope_high (its interval's upper end: substitution is found where it is below 0),
    cross_category_slope, cross_category_value / _retention where the estimate gave them (else: shares
    uniform within the unit, no cross effect; none either without `cross_effects`). The pulls of an
    offer on the consumer's other purchases in the category (φ, others_slope) and in their other
    categories (φ_x, cross_category_others, where one is counted) are taken at `others_quantile` of
    their intervals toward taking more from them (others_se, cross_category_others_se; 0.5: the
    estimates): `cautious_others`."""
    col = lambda name, default: (  # noqa: E731
        pairs.get_column(name).fill_null(default).to_numpy().astype(float) if name in pairs.columns else np.full(pairs.height, default)
    )
    units = Units.of(pairs.get_column("customer_id").to_numpy())
    uniform = 1.0 / units.size[units.of_pairs()] if pairs.height else np.zeros(0)
    w = pairs.get_column("category_share").fill_null(0.0).to_numpy() if "category_share" in pairs.columns else uniform
    price = pairs.get_column("price").to_numpy().astype(float)
    k, w = pairs.get_column("reference_offer_pct").to_numpy().astype(float), np.asarray(w, dtype=float)
    theta_x = col("cross_category_slope", 0.0) if cross_effects else np.zeros(pairs.height)
    return PairArrays(
        kind=kind,
        objective=objective,
        f=pairs.get_column("probability").to_numpy().astype(float),
        k=k,
        slope=slope,
        ends=ends,
        price=price,
        cost=price * (unit_cost_share or 0.0),
        threshold=pairs.get_column("threshold").to_numpy().astype(float),
        w=w,
        v=col("total_share", 0.0),
        theta=col("cross_slope", 0.0) if cross_effects else np.zeros(pairs.height),
        others=cautious_others(col("others_slope", np.nan), col("others_se", 0.0), others_quantile),
        substitution=bool(cross_effects and pairs.height and (col("cross_slope_high", np.inf) < 0).all()),
        theta_x=float(theta_x[0]) if theta_x.size else 0.0,
        g_value=col("cross_category_value", 0.0),
        g_retention=col("cross_category_retention", 0.0),
        others_x=(
            cautious_others(col("cross_category_others", np.nan), col("cross_category_others_se", 0.0), others_quantile)
            if cross_effects
            else float("nan")
        ),
        other_unit_value=col("cross_category_unit_value", 0.0),
        other_outside=col("cross_category_outside", 0.0),
        other_outside_value=col("cross_category_outside_value", 0.0),
        pressure_k=units.unit_sums(w * k)[units.of_pairs()] - w * k,
        outside=col("outside_purchases", 0.0),
        outside_value=col("outside_unit_value", 0.0) * (1 - (unit_cost_share or 0.0)),
    )


def cautious_others(others: np.ndarray, se: np.ndarray, quantile: float) -> float:
    """The category's pull φ or φ_x (each pair carries it) at `quantile` of its normal interval: below
    0.5 it takes more of the consumer's other purchases, so an offer's net uplift is not overrated, as
    the own slope's caution does for its gross uplift (optimize.response_quantile). NaN where not
    estimated; an earlier version's inputs without its SE: the estimate."""
    if others.size == 0:
        return float("nan")
    return float(others[0] + norm.ppf(quantile) * (se[0] if np.isfinite(se[0]) else 0.0))


def with_nested_logit(p: PairArrays, units: Units) -> PairArrays:
    """p with the nested logit of choice_model.py calibrated to its slopes and cross slope."""
    unit = units.of_pairs()
    theta = float(p.theta[0]) if p.theta.size else 0.0
    # No substitution found (the interval reaches 0), or consumers buy several of its items a fortnight: the logit shift.
    if not p.substitution or not choice_model.single_choice(units.unit_sums(p.f) + p.outside[units.start]):
        return p
    b, lam = choice_model.calibrate(p.f, central(p.slope), unit, theta, p.outside, p.others)
    ends = None if p.ends is None else tuple(choice_model.calibrate(p.f, e, unit, theta, p.outside, p.others)[0] for e in p.ends)
    n0 = (np.bincount(unit, p.f)[unit] if p.f.size else np.zeros(0)) + p.outside
    pull_x = choice_model.cross_category_pull(p.f, b, n0, p.g_retention, p.others_x)
    if isinstance(p.slope, ChangeSlopes):  # λ and the pull as at the mean; a move's utility by its direction
        b = ChangeSlopes(*(choice_model.utility_slopes(p.f, s, n0, lam) for s in (p.slope.rise, p.slope.fall)), b)
    return replace(p, nested=(b, ends, lam, n0), pull_x=pull_x)


def bundle_problem(pairs: pl.DataFrame, cfg: OptimizeConfig, levels: CategoryLevels) -> BundleProblem:
    if levels.allowed is None:  # optimize/offers.decision keeps the paper's grid on the pair route
        raise OptionError("The 'optimize.levels' option 'paper' decides per pair: set optimize.decision = 'pair'.")
    pairs = pairs.sort("customer_id", "item_id")
    slope, ends = slopes(pairs, cfg.response, **slope_options(cfg))
    others_quantile = cfg.response_quantile if cfg.response == "dml" else 0.5  # the slopes' caution (problem.slopes)
    arrays = pair_arrays(
        pairs,
        cfg.response,
        cfg.objective,
        slope,
        ends,
        cfg.unit_cost_share,
        cross_effects=cfg.cross_effects,
        others_quantile=others_quantile,
    )
    units = Units.of(pairs.get_column("customer_id").to_numpy())
    if cfg.bundle_response == "nested_logit" and cfg.cross_effects:
        arrays = with_nested_logit(arrays, units)
    opts, values = options_for(arrays, units, levels, levels.max_offers or cfg.max_offers_per_category)
    before = metrics(arrays, units, opts, values, opts.first)
    n = pairs.height
    R = cfg.retention * before["retention"] * n if cfg.retention_mode == "relative" else cfg.retention * n
    B = None if cfg.budget is None else cfg.budget * float(values["spend"][opts.first].sum())
    return BundleProblem(pairs, levels, arrays, units, opts, values, before, R, B, ends is not None)


def metrics(p: PairArrays, units: Units, opts: Options, values: dict[str, np.ndarray], chosen: np.ndarray) -> dict[str, float]:
    """The plan's metrics under each unit's `chosen` option (the pair route's, optimize/offers._metrics)."""
    n = max(p.f.size, 1)
    r = rows_of(p, units, opts.take(chosen))
    weight = p.price * r.prob
    return {
        "objective": float(values["value"][chosen].sum()),
        "retention": float(values["retention"][chosen].sum() / n),
        "expected_purchases": float(r.prob.sum()),
        "pairs_above_cutoff": float((r.prob >= p.threshold).mean()) if p.f.size else float("nan"),
        "expected_revenue": float((r.prob * p.price * (1 - r.offer / 100)).sum()),
        "weighted_offer_pct": float((r.offer * weight).sum() / weight.sum()) if weight.sum() > 0 else 0.0,
        "retention_low": float(values["constrained"][chosen].sum() / n),
    }


def solve(problems: list[BundleProblem], R: float, B: float | None, cfg: OptimizeConfig) -> tuple[Solution, list[np.ndarray]]:
    """One solve over every problem's units; each problem's chosen option per unit."""
    parts = [blocks(p.opts, p.values, budget=B is not None) for p in problems]
    flat = [b for part in parts for b in part]
    if cfg.solver == "milp":
        width = max((b.option_ids.shape[1] for b in flat), default=1)
        pad = lambda a, fill: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)  # noqa: E731
        stack = lambda name, fill: np.concatenate([pad(getattr(b.solver, name), fill) for b in flat]) if flat else np.zeros((0, width))  # noqa: E731
        budget = None if B is None else stack("c", 0.0)
        sol = solve_milp(
            stack("v", NEG), stack("r", 0.0), stack("allowed", False).astype(bool), R, budget, B, time_limit=cfg.milp_time_limit
        )
        bounds = np.cumsum([0] + [b.units.size for b in flat])
        choices = [sol.choice[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        sol = solve_blocks(LocalBlocks([b.solver for b in flat]), R, B)
        choices = sol.choice
    chosen, at = [], 0
    for p, part in zip(problems, parts, strict=True):
        out = np.zeros(p.units.start.size, dtype=int)
        for b in part:
            out[b.units] = b.option_ids[np.arange(b.units.size), choices[at]]
            at += 1
        chosen.append(out)
    return sol, chosen


def offers_per_unit(opts: Options, chosen: np.ndarray, k: np.ndarray, units: Units) -> np.ndarray:
    """(U,) the number of non-zero offers each unit's chosen option makes."""
    status_quo = np.add.reduceat((k > 0).astype(int), units.start) if units.start.size else np.zeros(0, int)
    offered = ((opts.items[chosen] >= 0) & (opts.levels[chosen] > 0)).sum(axis=1)
    return np.where(opts.status_quo[chosen], status_quo, offered)


def _unit_argmax(unit: np.ndarray, score: np.ndarray, units: int) -> np.ndarray:
    """Each unit's option of highest score (the first among ties)."""
    order = np.lexsort((-score, unit))
    return order[np.searchsorted(unit[order], np.arange(units))]


def binding(problem: BundleProblem, chosen: np.ndarray, *, budget: bool) -> np.ndarray:
    """Per pair, as optimize/offers.binding: "range edge", "retention", "budget" or "none", judged on
    its consumer-category's bundle."""
    opts, v, U = problem.opts, problem.values, problem.units.start.size
    free = _unit_argmax(opts.unit, v["value"], U)
    in_range = _unit_argmax(opts.unit, np.where(opts.allowed, v["value"], NEG), U)
    moved = chosen != in_range
    more_retention = v["constrained"][chosen] > v["constrained"][in_range] + 1e-12
    out = np.full(U, "none", dtype=object)
    out[~opts.allowed[free] & (chosen == in_range)] = "range edge"
    out[moved & (more_retention | ~budget)] = "retention"
    out[moved & ~more_retention & budget] = "budget"
    return np.repeat(out, problem.units.size)


def result(problem: BundleProblem, chosen: np.ndarray) -> tuple[pl.DataFrame, dict[str, float], dict[str, float]]:
    """(the pairs with their offers, the metrics after, the offers per consumer-category)."""
    p, units = problem.arrays, problem.units
    r = rows_of(p, units, problem.opts.take(chosen))
    offers = problem.pairs.with_columns(
        binding=pl.Series(binding(problem, chosen, budget=problem.B is not None)),
        recommended_offer_pct=pl.Series(r.offer),
        eta=pl.lit(None, dtype=pl.Float64),
        predicted_probability=pl.Series(r.prob),
    )
    count = offers_per_unit(problem.opts, chosen, p.k, units)
    share = lambda mask: float(mask.mean()) if count.size else float("nan")  # noqa: E731
    spread = {
        "consumer_categories": float(count.size),
        "offers_per_consumer_category": float(count.mean()) if count.size else float("nan"),
        "consumer_categories_no_offer": share(count == 0),
        "consumer_categories_one_offer": share(count == 1),
        "consumer_categories_several_offers": share(count > 1),
    }
    return offers, metrics(p, units, problem.opts, problem.values, chosen), spread
