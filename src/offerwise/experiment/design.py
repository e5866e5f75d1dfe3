"""The forward plan with its experiment: arms, the offer each pair is given, what the experiment
costs in expected net revenue and what its holdout can detect (docs/experiment.md)."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import PAIR
from offerwise.config import ExperimentConfig
from offerwise.experiment.arms import EXPLORE, HOLDOUT, PLAN, with_arms
from offerwise.experiment.power import consumer_revenue, detectable_difference
from offerwise.optimize.problem import ChangeSlopes, response
from offerwise.optimize.recommendations import expected_revenue


def given_probabilities(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """p_plan: the optimiser's probability at the plan's offer. p_recommended: at the given offer: the
    status quo's (holdout), the plan's (plan), or the pair's own response at the drawn level (explore;
    the cross effect of the consumer's other offers is left out there). frame: + slope (the optimiser's;
    with slope_fall, optimize.response_caution "change": slope where the offer rises, slope_fall where it falls)."""
    f = frame.get_column("p_reference").to_numpy().astype(float)
    k = frame.get_column("reference_offer_pct").to_numpy().astype(float)
    given = frame.get_column("recommended_offer_pct").to_numpy().astype(float)
    slope = frame.get_column("slope").to_numpy().astype(float)
    if "slope_fall" in frame.columns:
        slope = ChangeSlopes(slope, frame.get_column("slope_fall").to_numpy().astype(float), slope)
    own = response(kind, f, k, slope, given[:, None])[:, 0]
    arm = pl.col("arm")
    return (
        frame.with_columns(p_plan=pl.col("p_recommended"), _own=pl.Series(own))
        .with_columns(
            p_recommended=pl.when(arm == HOLDOUT)
            .then(pl.col("p_reference"))
            .when(arm == EXPLORE)
            .then(pl.col("_own"))
            .otherwise(pl.col("p_plan"))
        )
        .with_columns(
            expected_revenue_plan=expected_revenue("p_plan", "plan_offer_pct"),
            expected_revenue_recommended=expected_revenue("p_recommended", "recommended_offer_pct"),
        )
        .with_columns(expected_uplift=pl.col("expected_revenue_recommended") - pl.col("expected_revenue_reference"))
        .drop("_own", "slope", "slope_fall", strict=False)
    )


GIVEN_UP = pl.col("expected_revenue_plan") - pl.col("expected_revenue_recommended")  # a pair's revenue the experiment gives up

# The holdout's per-stratum rounding keeps its cost off the proportional (a smaller share may hold out as many): each
# resize lowers the share by at least STEP, so the cap is met within MAX_RESIZES unless exploration alone exceeds it
MAX_RESIZES, STEP = 40, 0.05


def _arms_within_cost(
    plan: pl.DataFrame, slopes: pl.DataFrame, levels: dict[str, list[float]], cfg: ExperimentConfig, *, key: str, kind: str
) -> tuple[pl.DataFrame, float]:
    """(offers with arms and given probabilities, the holdout share they were drawn with): at
    cfg.holdout_share, or lower where the experiment would give up more than cfg.max_given_up_share
    of the plan's expected net revenue. The holdout's part of the cost is scaled to what the cap leaves
    after exploration's (at least STEP lower each time); a smaller share holds out a subset of the same
    consumers (each stratum's smallest hashes), so its cost falls with it. Never raised; 0 where no
    consumer would be held out."""
    share, held_out = cfg.holdout_share, pl.col("arm") == HOLDOUT
    plan = plan.join(slopes, on=PAIR, how="left").with_columns(pl.exclude(plan.columns).fill_null(0.0))  # once, whatever the resizes
    for resize in range(MAX_RESIZES + 1):
        offers = given_probabilities(
            with_arms(plan, levels, holdout_share=share, explore_share=cfg.explore_share, strata=cfg.strata, key=key), kind
        )
        held, explored, value, n_held = offers.select(
            held=GIVEN_UP.filter(held_out).sum(),
            explored=GIVEN_UP.filter(~held_out).sum(),
            value=pl.col("expected_revenue_plan").sum(),
            n_held=held_out.sum(),
        ).row(0)
        if n_held == 0:
            return offers, 0.0
        allowed = cfg.max_given_up_share * value
        if held + explored <= allowed or held <= 0 or resize == MAX_RESIZES:
            return offers, share
        share *= min(1 - STEP, 0.99 * max(allowed - explored, 0.0) / held)
    raise AssertionError("unreachable")


def experiment(
    plan: pl.DataFrame,
    slopes: pl.DataFrame,
    levels: dict[str, list[float]],
    history: pl.DataFrame,
    decided: int,
    cfg: ExperimentConfig,
    *,
    key: str,
    kind: str,
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(offers with arm, propensity, plan_offer_pct, p_plan, expected_revenue_plan; per category: the
    arms' sizes and the expected revenue the experiment gives up; experiment.json's content).
    plan: recommendation_tables' offers (the plan's offer in recommended_offer_pct); slopes: PAIR +
    slope; history: panel rows (customer_id, item_id, period, target, offer_pct) up to the cutoff."""
    offers, holdout_share = _arms_within_cost(plan, slopes, levels, cfg, key=key, kind=kind)
    per_category = offers.group_by("category").agg(
        holdout_pairs=(pl.col("arm") == HOLDOUT).sum(),
        explore_pairs=(pl.col("arm") == EXPLORE).sum(),
        expected_revenue_as_run=pl.col("expected_revenue_recommended").sum(),
        expected_revenue_given_up=GIVEN_UP.sum(),
    )
    consumers = offers.group_by("customer_id").agg(holdout=(pl.col("arm") == HOLDOUT).any())
    n_holdout = int(consumers.get_column("holdout").sum())
    power = detectable_difference(
        consumer_revenue(history, plan, decided - 1), consumer_revenue(history, plan, decided - 2), n_holdout, consumers.height - n_holdout
    )
    plan_value = float(offers.get_column("expected_revenue_plan").sum())
    given_up = float(per_category.get_column("expected_revenue_given_up").sum())
    difference = (offers.get_column("expected_revenue_plan") - offers.get_column("expected_revenue_reference")).sum() / max(
        consumers.height, 1
    )
    info = {
        "key": key,
        **cfg.model_dump(include={"seed", "explore_share", "strata", "max_given_up_share"}),
        "holdout_share": holdout_share,  # the share the arms were drawn with (measure reads it)
        "holdout_share_configured": cfg.holdout_share,
        "levels": levels,
        "consumers": {HOLDOUT: n_holdout, PLAN: consumers.height - n_holdout},
        "pairs": {arm: int((offers.get_column("arm") == arm).sum()) for arm in (HOLDOUT, EXPLORE, PLAN)},
        "power": power | {"expected_difference_per_consumer": float(difference)},
        "expected_revenue_plan": plan_value,
        "expected_revenue_given_up": given_up,
        "given_up_share": given_up / plan_value if plan_value else float(np.nan),
    }
    return offers, per_category, info
