"""A plan judged as a whole on a simulator with substitution (data/choice.py): every offer in force at
once, and the interaction-aware oracle.

The joint value of a plan: the true probabilities of every pair of the decision's consumers (all
their categories, the items outside the decision at their reference offers) with all the plan's
offers in force (choice.true_probability_under), summed into expected revenue (and value, less unit
cost under a margin objective) per category; retention over the decision's pairs.

The interaction-aware oracle chooses one bundle per consumer-category (optimize/bundles.py: status
quo, no offer, or up to ORACLE_OFFERS offered items at the rules' levels, the rest at no offer)
under the true nested logit, with the plan's retention target, by the same solver (certified gap).
Each option is valued with what it does to the consumer's related categories: its change of the
category's inclusive value moves their incidence through the cross-category pull (δ W), valued
exactly with those categories at their reference offers (`_related`, `_pull`); its plan is then
scored jointly like any other. Several categories' offers together pull on each other beyond that;
the oracle does not search over that, so a plan may beat it (a joint score above 1).
It allows more offers per consumer-category than the plan's default of one, so the cap is judged, not shared.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import PAIR
from offerwise.config import OptimizeConfig
from offerwise.data.choice import ChoiceWorld, true_probability_under
from offerwise.optimize import consumer_category as cc
from offerwise.optimize.bundles import Options, PairArrays, Units, combined_offers, expand_units, offer_rows, single_offers
from offerwise.optimize.consumer_category import pair_arrays
from offerwise.optimize.levels import CategoryLevels
from offerwise.probability import expit

ORACLE_OFFERS = 2
JOINT = ["category", "policy", "joint_true_expected_revenue", "joint_true_expected_value", "joint_true_retention"]


def joint_frame(pairs: pl.DataFrame, truth_all: pl.DataFrame) -> pl.DataFrame:
    """Every truth pair of the decision's consumers: customer_id, item_id, category, true_a, true_b,
    price (the item's; the category median where no decision pair has the item), reference (the
    decision's status quo, else the offer the truth records), in_plan."""
    consumers = pairs.select("customer_id").unique()
    prices = pairs.group_by("item_id").agg(item_price=pl.col("price").first())
    frame = (
        truth_all.join(consumers, on="customer_id", how="semi")
        .join(pairs.select(*PAIR, "reference_offer_pct", in_plan=pl.lit(True)), on=PAIR, how="left")
        .join(prices, on="item_id", how="left")
    )
    return frame.with_columns(
        category=pl.col("category").cast(pl.String),
        price=pl.coalesce("item_price", pl.col("item_price").median().over("category"), pl.col("item_price").median()).fill_null(0.0),
        reference=pl.coalesce("reference_offer_pct", "offer_pct"),
        in_plan=pl.col("in_plan").fill_null(False),
    ).select(*PAIR, "category", "true_a", "true_b", "price", "reference", "in_plan")


def _under(chosen: pl.DataFrame, frame: pl.DataFrame, world: ChoiceWorld) -> pl.DataFrame:
    """frame with `offer` (chosen's, else the reference) and p, the true probability with every offer in force."""
    plan = frame.join(chosen.select(*PAIR, "offer"), on=PAIR, how="left").with_columns(offer=pl.coalesce("offer", "reference"))
    return plan.with_columns(p=true_probability_under(plan, "offer", world))


def plan_retention(chosen: pl.DataFrame, frame: pl.DataFrame, world: ChoiceWorld) -> float:
    """A plan's true retention in total: the decision's pairs' true probabilities summed, every offer in force."""
    return float(_under(chosen, frame, world).filter(pl.col("in_plan")).get_column("p").sum())


def joint_scored(name: str, chosen: pl.DataFrame, frame: pl.DataFrame, world: ChoiceWorld, unit_cost_share: float | None) -> pl.DataFrame:
    """One policy's joint true expected revenue and value per category (every pair of the decision's
    consumers), retention over the decision's pairs; chosen: customer_id, item_id, offer."""
    plan = _under(chosen, frame, world)
    net = pl.col("price") * (1 - pl.col("offer") / 100)
    return plan.group_by("category", maintain_order=True).agg(
        policy=pl.lit(name),
        joint_true_expected_revenue=(pl.col("p") * net).sum(),
        joint_true_expected_value=(pl.col("p") * (net - (unit_cost_share or 0.0) * pl.col("price"))).sum(),
        joint_true_retention=pl.col("p").filter(pl.col("in_plan")).mean(),
    )


def _at_reference(frame: pl.DataFrame, world: ChoiceWorld, unit_cost_share: float | None) -> pl.DataFrame:
    """Per consumer-category of `frame`, every offer at its reference: the items outside the decision
    (Σ exp(u), Σ exp(u)·unit value, Σ exp(b)), Σ exp(u) over all, the incidence, and the expected value
    and decision-pair retention (the true probabilities computed once for _outside and _related)."""
    at_reference = frame.with_columns(
        p=true_probability_under(frame.with_columns(offer=pl.col("reference")), "offer", world),
        u=pl.col("true_a") * pl.col("reference") + pl.col("true_b"),
    )
    unit_value = pl.col("price") * (1 - pl.col("reference") / 100 - (unit_cost_share or 0.0))
    return at_reference.group_by("customer_id", "category").agg(
        s_out=pl.col("u").exp().filter(~pl.col("in_plan")).sum(),
        r_out=(pl.col("u").exp() * unit_value).filter(~pl.col("in_plan")).sum(),
        s0=pl.col("true_b").exp().sum(),
        s=pl.col("u").exp().sum(),
        incidence=pl.col("p").sum(),
        value=(pl.col("p") * unit_value).sum(),
        kept=pl.col("p").filter(pl.col("in_plan")).sum(),
    )


def _outside(groups: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """_at_reference's rows for the consumer-categories of `pairs`, in their order (the cross-category
    logit shift at the reference is recovered from the incidence: true_values)."""
    units = pairs.select("customer_id", category=pl.col("category").cast(pl.String)).unique(maintain_order=True)
    return units.join(groups, on=["customer_id", "category"], how="left", maintain_order="left")


def _related(groups: pl.DataFrame, world: ChoiceWorld) -> pl.DataFrame:
    """Per consumer, category and the category whose inclusive value pulls on it (`by`, weight W > 0):
    its incidence logit z at the reference, and its value and decision-pair retention per unit of incidence."""
    incidence = pl.col("incidence").clip(1e-12, 1 - 1e-12)
    weights = pl.DataFrame(
        [(g, by, w) for (g, by), w in world.weights.items() if w > 0],
        schema={"category": pl.String, "by": pl.String, "weight": pl.Float64},
        orient="row",
    )
    return groups.join(weights, on="category").select(
        "customer_id",
        "by",
        "weight",
        z=(incidence / (1 - incidence)).log(),
        value_per=pl.col("value") / incidence,
        kept_per=pl.col("kept") / incidence,
    )


def _pull(units_frame: pl.DataFrame, related: pl.DataFrame, opts: Options, delta_iv: np.ndarray, world: ChoiceWorld) -> tuple:
    """Per option: the change in its consumer's related categories' value and retention when its
    category's inclusive value moves by delta_iv (those categories at their reference)."""
    rows = units_frame.with_row_index("unit").join(related, left_on=["customer_id", "category"], right_on=["customer_id", "by"])
    if rows.height == 0 or world.cross == 0:
        return np.zeros(opts.unit.size), np.zeros(opts.unit.size)
    rows = rows.sort("unit")
    unit, w, z, value, kept = (rows.get_column(c).to_numpy() for c in ("unit", "weight", "z", "value_per", "kept_per"))
    count = np.bincount(unit, minlength=units_frame.height)
    option, row = expand_units(Units(np.cumsum(count) - count, count), opts)  # each option x its unit's related rows
    moved = expit(z[row] - world.cross * w[row] * delta_iv[option]) - expit(z[row])
    total = lambda v: np.bincount(option, moved * v[row], minlength=opts.unit.size)  # noqa: E731
    return total(value), total(kept)


def true_values(
    p: PairArrays,
    units: Units,
    opts: Options,
    true_a: np.ndarray,
    true_b: np.ndarray,
    outside: pl.DataFrame,
    world: ChoiceWorld,
    related: pl.DataFrame | None = None,
) -> dict:
    """Per option, under the true nested logit: value, retention (= constrained) and spend; with
    `related` (_related), also what the option's pull does to the consumer's related categories."""
    s_out, r_out, s0, s_ref, incidence = (
        outside.get_column(c).fill_null(0.0).to_numpy() for c in ("s_out", "r_out", "s0", "s", "incidence")
    )
    iv0 = np.log(s0)
    # The cross-category shift at the reference, recovered from the reference incidence: logit P_ref = IV0 + λ(IV_ref − IV0) − δX.
    shift = (
        np.log(np.maximum(incidence, 1e-300))
        - np.log1p(-np.minimum(incidence, 1 - 1e-12))
        - (iv0 + world.expansion * (np.log(s_ref) - iv0))
    )
    option, pair, offer = offer_rows(p, units, opts)
    e = np.exp(true_b[pair] + true_a[pair] * offer)
    total = lambda values: np.bincount(option, values, minlength=opts.unit.size)  # noqa: E731
    s_in = total(e)
    u = opts.unit
    s = s_out[u] + s_in
    share = expit(iv0[u] + world.expansion * (np.log(s) - iv0[u]) + shift[u]) / s  # P / S
    unit_value = p.price[pair] * (1 - offer / 100) - p.cost[pair]
    retention = share * s_in
    pull_value, pull_kept = (0.0, 0.0)
    if related is not None:
        units_frame = outside.select("customer_id", "category")
        pull_value, pull_kept = _pull(units_frame, related, opts, np.log(s) - np.log(s_ref[u]), world)
    retention = retention + pull_kept
    return {
        "value": share * (total(e * unit_value) + r_out[u]) + pull_value,
        "retention": retention,
        "constrained": retention,
        "spend": share * total(e * p.price[pair] * offer / 100),
    }


def joint_oracle(
    pairs: pl.DataFrame,
    frame: pl.DataFrame,
    world: ChoiceWorld,
    cfg: OptimizeConfig,
    levels: dict[str, CategoryLevels],
    *,
    retention: float | None = None,
) -> pl.DataFrame:
    """The interaction-aware oracle's offers (customer_id, item_id, offer) under the plan's retention
    target, or keeping `retention` in total (the decision's pairs' true probabilities summed: a plan's
    own true retention, plan_retention, to compare the two at equal retention)."""
    groups = _at_reference(frame, world, cfg.unit_cost_share)
    problems, related = [], _related(groups, world)
    for (category,), group in pairs.group_by("category", maintain_order=True):
        group = group.sort("customer_id", "item_id")
        lv = levels[category]
        arrays = pair_arrays(group, "sigmoid", "expected", np.zeros(group.height), None, cfg.unit_cost_share)
        units = Units.of(group.get_column("customer_id").to_numpy())
        a, b = group.get_column("true_a").to_numpy(), group.get_column("true_b").to_numpy()
        outside = _outside(groups, group)
        singles = single_offers(units, lv)
        values = true_values(arrays, units, singles, a, b, outside, world, related)
        offered = singles.items[:, 0] >= 0
        best = np.full(group.height, -np.inf)
        np.maximum.at(best, singles.items[offered, 0], values["value"][offered])
        gain = best - values["value"][singles.first + 1][units.of_pairs()]
        opts = combined_offers(units, lv, gain, ORACLE_OFFERS)
        values = true_values(arrays, units, opts, a, b, outside, world, related)
        n = max(group.height, 1)
        before = {"retention": float(values["retention"][opts.first].sum() / n)}
        R = cfg.retention * before["retention"] * n if cfg.retention_mode == "relative" else cfg.retention * n
        problems.append(cc.BundleProblem(group, lv, arrays, units, opts, values, before, R, None, False))
    R = sum(p.R for p in problems) if retention is None else retention
    _, chosen = cc.solve(problems, R, None, cfg.model_copy(update={"solver": "lagrangian"}))
    parts = []
    for problem, c in zip(problems, chosen, strict=True):
        option, pair, offer = offer_rows(problem.arrays, problem.units, problem.opts.take(c))
        parts.append(problem.pairs.select(*PAIR).with_columns(offer=pl.Series(offer)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"customer_id": pl.Int64, "item_id": pl.Int64, "offer": pl.Float64})
