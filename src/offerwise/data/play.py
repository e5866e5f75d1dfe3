"""Playing a plan: the simulator's fortnight after the data, drawn under the offers a run decided.

A simulated folder ends with a plan period: the retailer's planned item offers and the response
expected from the cutoff's state (docs/simulator.md, Files). `play` draws that period for real:
the drift's step and the demand shock's innovation (the realised base logit), then the purchases
from the true response at the offers given (the run's recommended_offer_pct for its pairs, the
retailer's item offer for every other pair). The dynamics go on from there: habit and repurchase
state, the retailer's sales, its plan for the following fortnight and that fortnight's expected
truth, so the result can be decided on and played again (docs/simulator.md, Playing a plan).

New randomness comes from a stream of its own per round, seeded by (seed, round): the same folder
and plan give the same files, and two plans played from one folder share their draws (common
random numbers), so their difference is the plans' alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.columns import DESIGN_MEAN
from offerwise.config import SimulationConfig
from offerwise.data import choice
from offerwise.data.simulate import (
    OFFER_DEPTHS,
    base_logit,
    draw_purchases,
    draw_transactions,
    next_history,
    offers_for,
    probability,
    season,
)
from offerwise.data.simulate_frames import (
    PERIOD_DAYS,
    SimState,
    category_names,
    ground_truth_frame,
    offer_frame,
    period_starts,
    period_truth_frame,
)
from offerwise.errors import input_error

PLAY_STREAM = 3  # spawn key of the rounds' streams: (3, round); simulate uses 1 (calendar) and 2 (W)
PLAN_COLUMNS = ["customer_id", "item_id", "period_start", "period_end", "recommended_offer_pct"]
LOGGED = {"arm": pl.String, "propensity": pl.Float64}  # the experiment's columns, carried when the plan has them
LOGGED_COLUMNS = {c: pl.col(c) for c in LOGGED}
HISTORY_SCHEMA = {
    "item_id": pl.Int64,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "offer_pct": pl.Float64,
    "customer_id": pl.Int64,
    **LOGGED,
    DESIGN_MEAN: pl.Float64,  # kept from SIM's history: randomised rows a measured fortnight returned (docs/experiment.md)
}


@dataclass(frozen=True)
class Played:
    """One played fortnight: its rows of each file and the state after it."""

    transactions: pl.DataFrame  # the fortnight's lines, customer_transaction_data.csv's columns
    ground_truth: pl.DataFrame  # ground_truth.parquet's rows of the fortnight (realised base logit)
    offer_history: pl.DataFrame  # HISTORY_SCHEMA: every item's planned offer, and a row per plan pair
    played_truth: pl.DataFrame  # one row per pair: the offer given, the true response, the purchase
    planned_offers: pl.DataFrame  # the retailer's plan for the following fortnight
    future_truth: pl.DataFrame  # that fortnight's expected truth, as simulate writes it
    state: SimState  # the dynamics after the fortnight


def round_rng(cfg: SimulationConfig, round_: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(PLAY_STREAM, round_)))


def plan_period(cfg: SimulationConfig, state: SimState) -> tuple[dt.date, dt.date]:
    """First and last day of the fortnight after the state's data: the one a plan decides."""
    start = cfg.start + dt.timedelta(days=PERIOD_DAYS * state.periods)
    return start, start + dt.timedelta(days=PERIOD_DAYS - 1)


def pair_index(state: SimState) -> pl.DataFrame:
    """pair (the simulator's order), customer_id, item_id."""
    return pl.DataFrame({"customer_id": state.customer_id, "item_id": state.item_id}).with_row_index("pair")


def check_plan(plan: pl.DataFrame, cfg: SimulationConfig, state: SimState, *, file: str) -> pl.DataFrame:
    """The plan's rows, or InputError naming the file: PLAN_COLUMNS present, the decided fortnight
    the one after the data, each pair once and known to the simulator, offers from 0 to 100 %."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise input_error(file=file, column=missing[0], problem=f"missing; a plan needs the columns {PLAN_COLUMNS} (has {plan.columns}).")
    start, end = plan_period(cfg, state)
    dates = [pl.col(c).cast(pl.Date, strict=False) for c in ("period_start", "period_end")]
    ids = pl.col("customer_id", "item_id").cast(pl.Int64, strict=False)
    plan = plan.with_columns(ids, *dates, pl.col("recommended_offer_pct").cast(pl.Float64, strict=False))
    offer = pl.col("recommended_offer_pct")
    problems = [
        ("period_start", plan.filter((pl.col("period_start") != start).fill_null(True)), f"must be {start}, the fortnight after the data."),
        ("period_end", plan.filter((pl.col("period_end") != end).fill_null(True)), f"must be {end}, the fortnight after the data."),
        ("item_id", plan.filter(pl.struct("customer_id", "item_id").is_duplicated()), "duplicate rows for the same customer_id / item_id."),
        ("recommended_offer_pct", plan.filter(~offer.is_between(0, 100).fill_null(False)), "must be an offer from 0 to 100 (percent)."),
        ("item_id", plan.join(pair_index(state), on=["customer_id", "item_id"], how="anti"), "names pairs the simulator does not have."),
    ]
    for column, bad, problem in problems:
        if bad.height:
            raise input_error(
                file=file, column=column, problem=problem, examples=bad.select(list(dict.fromkeys(["customer_id", "item_id", column])))
            )
    return plan


def given_offers(plan: pl.DataFrame, state: SimState, pairs: dict[str, np.ndarray]) -> pl.DataFrame:
    """One row per pair in the simulator's order: offer_pct given (the plan's for its pairs, the
    retailer's planned item offer for the rest), in_plan, and arm / propensity (null outside the plan)."""
    planned = pl.Series("planned", state.item_offer[pairs["item"], state.periods])  # (pairs,) the retailer's plan
    logged = [pl.col(c).cast(t) if c in plan.columns else pl.lit(None, t).alias(c) for c, t in LOGGED.items()]
    chosen = plan.select("customer_id", "item_id", pl.col("recommended_offer_pct").alias("given"), *logged)
    return (
        pair_index(state)
        .with_columns(planned)
        .join(chosen, on=["customer_id", "item_id"], how="left")
        .sort("pair")
        .select(
            "customer_id",
            "item_id",
            offer_pct=pl.coalesce("given", "planned"),
            in_plan=pl.col("given").is_not_null(),
            **LOGGED_COLUMNS,
        )
    )


def play(cfg: SimulationConfig, world: dict[str, dict], state: SimState, plan: pl.DataFrame) -> Played:
    """Draw the fortnight after `state`'s data under `plan` (check_plan's rows) and go on to the next.

    world: simulate.static_world(cfg). Draws, in this order, from round_rng(cfg, state.round + 1):
    drift steps, shock innovations, purchases, transaction lines, the retailer's next promotions.
    """
    pairs, items, categories = world["pairs"], world["items"], world["categories"]
    rng = round_rng(cfg, state.round + 1)
    given = given_offers(plan, state, pairs)
    offer = given.get_column("offer_pct").to_numpy()  # (pairs,)
    drift, shock = _realised(cfg, rng, state)
    period = state.periods
    base = base_logit(pairs, items, state.since_last, state.habit, season(cfg, categories, 1, period)[:, 0], drift, shock)
    cat = items["category"][pairs["item"]]
    prob = probability(cfg, pairs, cat, categories["related"], offer, base)
    bought = draw_purchases(cfg, rng, prob, choice.group_ids(pairs["cust"], cat)).astype(float)
    truth = {"pairs": pairs, "bought": bought[None], "offer": offer[None], "prob": prob[None], "base": base[None]}
    truth["shock"] = shock[pairs["item"]][None]
    after = _advance(cfg, rng, pairs, items, state, bought, drift, shock)
    return Played(
        transactions=draw_transactions(cfg, rng, pairs, items, bought[None], offer[None], first_period=period),
        ground_truth=ground_truth_frame(cfg, truth, items, first_period=period),
        offer_history=_history_rows(cfg, items, state, given),
        played_truth=_played_truth(cfg, items, pairs, period, given, base, prob, bought),
        planned_offers=offer_frame(cfg, items, after.item_offer[:, after.periods :], first_period=after.periods),
        future_truth=_future_truth(cfg, world, after),
        state=after,
    )


def _realised(cfg: SimulationConfig, rng: np.random.Generator, state: SimState) -> tuple[np.ndarray, np.ndarray]:
    """The played fortnight's drift (customers,) and demand shock (items,): one step of each."""
    drift = state.drift + rng.normal(0, 0.05, state.drift.size)
    innovation = rng.normal(0.0, 1.0, state.shock.size)  # drawn under every policy: the stream's order stays fixed
    shocked = cfg.promotion_policy == "targeted" and cfg.shock_sd > 0
    shock = cfg.shock_rho * state.shock + cfg.shock_sd * innovation if shocked else np.zeros(state.shock.size)
    return drift, shock


def _advance(cfg, rng, pairs, items, state: SimState, bought: np.ndarray, drift: np.ndarray, shock: np.ndarray) -> SimState:
    """The state after the played fortnight, with the retailer's plan for the one after it (decided,
    under "targeted", from sales that include the played fortnight)."""
    n_items = items["item_id"].size
    habit, since_last = next_history(state.habit, state.since_last, bought)
    sales = np.concatenate([state.sales, np.bincount(pairs["item"], weights=bought, minlength=n_items)[:, None]], axis=1)
    draws = {
        "promo_u": rng.random(n_items),
        "depth": rng.choice(OFFER_DEPTHS, size=n_items),
        "depth_u": rng.random(n_items),
        "everyday": state.everyday,
    }
    plan = offers_for(cfg, items, draws, sales, state.item_offer, state.periods + 1)
    return SimState(
        round=state.round + 1,
        customer_id=state.customer_id,
        item_id=state.item_id,
        habit=habit,
        since_last=since_last,
        drift=drift,
        shock=shock,
        everyday=state.everyday,
        sales=sales,
        item_offer=np.concatenate([state.item_offer, plan[:, None]], axis=1),
    )


def _future_truth(cfg: SimulationConfig, world: dict[str, dict], state: SimState) -> pl.DataFrame:
    """ground_truth_future for the fortnight after `state`'s data: the base logit expected from the
    state (drift's last value, shock rho * s_last), at the retailer's planned offers."""
    pairs, items, categories = world["pairs"], world["items"], world["categories"]
    period = state.periods
    expected_shock = cfg.shock_rho * state.shock  # 0 under "random"
    season_t = season(cfg, categories, 1, period)[:, 0]
    base = base_logit(pairs, items, state.since_last, state.habit, season_t, state.drift, expected_shock)
    offer = state.item_offer[pairs["item"], period]
    prob = probability(cfg, pairs, items["category"][pairs["item"]], categories["related"], offer, base)
    return period_truth_frame(cfg, pairs, items, period, offer=offer, base=base, prob=prob, shock=expected_shock[pairs["item"]])


def _history_rows(cfg: SimulationConfig, items, state: SimState, given: pl.DataFrame) -> pl.DataFrame:
    """The played fortnight's offer records: every item's planned offer (customer_id empty), and one
    row per plan pair with the offer it was given, its arm and propensity (a consumer's row wins)."""
    item_rows = offer_frame(cfg, items, state.item_offer[:, state.periods : state.periods + 1], first_period=state.periods)
    start, end = item_rows.get_column("start_date")[0], item_rows.get_column("end_date")[0]
    consumer_rows = given.filter("in_plan").select(
        "item_id", start_date=pl.lit(start), end_date=pl.lit(end), offer_pct="offer_pct", customer_id="customer_id", **LOGGED_COLUMNS
    )
    return pl.concat([as_history(item_rows), as_history(consumer_rows.sort("customer_id", "item_id"))])


def as_history(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in HISTORY_SCHEMA's columns and types; a column it lacks is empty."""
    return frame.select(pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in HISTORY_SCHEMA.items())


def _played_truth(cfg: SimulationConfig, items, pairs, period: int, given: pl.DataFrame, base, prob, bought) -> pl.DataFrame:
    """played_truth.parquet: customer_id, item_id, category, period_start, price, offer_pct (given),
    true_a, true_b (realised), true_probability (at the offers given), purchased, in_plan, arm, propensity."""
    return given.select(
        "customer_id",
        "item_id",
        category=pl.Series(category_names(items["category"])[pairs["item"]]),
        period_start=pl.lit(period_starts(cfg, period, 1)[0]).cast(pl.Date),
        price=pl.Series(items["price"][pairs["item"]]),
        offer_pct="offer_pct",
        true_a=pl.Series(pairs["a"]),
        true_b=pl.Series(base),
        true_probability=pl.Series(prob),
        purchased=pl.Series(bought.astype(np.int8)),
        in_plan="in_plan",
        **LOGGED_COLUMNS,
    )
