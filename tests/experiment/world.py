"""A synthetic planned fortnight with arms (the contract of /work/notes/experiment-contract.md) and the
transactions it produced, from a known logit response: what the measure tests are built on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import expit

from offerwise.config import Config
from offerwise.experiment.measure import Design

START, END = dt.date(2024, 3, 4), dt.date(2024, 3, 17)
LEVELS = {"Dairy": [0.0, 10.0, 20.0, 30.0], "Meat": [0.0, 5.0, 15.0]}
SLOPES = {"Dairy": 0.04, "Meat": 0.02}  # true logit change per offer point


def plan_world(
    *, consumers: int = 600, items: int = 6, holdout: float = 0.3, explore: float = 0.3, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(offers with arms, canonical transactions over the fortnight before and the decided one).
    The model is the truth: p_* are the true purchase probabilities at the offers named."""
    rng = np.random.default_rng(seed)
    n = consumers * items
    customer = np.repeat(np.arange(1, consumers + 1), items)
    item = np.tile(np.arange(1, items + 1), consumers)
    category = np.where(item % 2 == 0, "Dairy", "Meat")
    slope = np.vectorize(SLOPES.get)(category)
    base = np.repeat(rng.normal(-0.8, 0.8, consumers), items) + rng.normal(0, 0.3, n)  # consumer effect: CUPED has work to do
    price = rng.uniform(2, 10, n).round(2)
    reference = np.where(rng.random(n) < 0.5, 0.0, 5.0)
    draw = lambda c: rng.choice(LEVELS[c])
    plan = np.array([draw(c) for c in category])
    arm = np.where(np.repeat(rng.random(consumers) < holdout, items), "holdout", np.where(rng.random(n) < explore, "explore", "plan"))
    explored = np.array([draw(c) for c in category])
    given = np.where(arm == "holdout", reference, np.where(arm == "explore", explored, plan))
    size = np.vectorize(lambda c: len(LEVELS[c]))(category)
    propensity = np.where(arm == "holdout", 1.0, (1 - explore) * (given == plan) + explore / size)
    p = lambda o: expit(base + slope * o)
    offers = (
        pl.DataFrame(
            {
                "customer_id": customer,
                "item_id": item,
                "category": category,
                "period_start": [START] * n,
                "period_end": [END] * n,
                "price": price,
                "reference_offer_pct": reference,
                "recommended_offer_pct": given,
                "p_reference": p(reference),
                "p_recommended": p(given),
                "arm": arm,
                "propensity": propensity,
                "plan_offer_pct": plan,
                "p_plan": p(plan),
            }
        )
        .with_columns(
            expected_revenue_reference=pl.col("p_reference") * pl.col("price") * (1 - pl.col("reference_offer_pct") / 100),
            expected_revenue_recommended=pl.col("p_recommended") * pl.col("price") * (1 - pl.col("recommended_offer_pct") / 100),
            expected_revenue_plan=pl.col("p_plan") * pl.col("price") * (1 - pl.col("plan_offer_pct") / 100),
            binding=pl.lit("none"),
            run_id=pl.lit("run"),
        )
        .with_columns(expected_uplift=pl.col("expected_revenue_recommended") - pl.col("expected_revenue_reference"))
    )
    return offers, _transactions(offers, rng)


def design(*, holdout: float = 0.3, explore: float = 0.3) -> Design:
    """The design plan_world draws with these shares (seed 0)."""
    return Design(seed=0, holdout_share=holdout, explore_share=explore, levels=LEVELS)


def _transactions(offers: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One line per pair bought: before at the reference offer, during at the given one."""
    parts = []
    for day, p, offer in (
        (START - dt.timedelta(days=7), "p_reference", "reference_offer_pct"),
        (START + dt.timedelta(days=3), "p_recommended", "recommended_offer_pct"),
    ):
        bought = rng.random(offers.height) < offers.get_column(p).to_numpy()
        lines = offers.filter(pl.Series(bought)).select(
            "customer_id",
            "item_id",
            timestamp=pl.lit(dt.datetime.combine(day, dt.time(10))),
            quantity=pl.lit(1.0),
            paid=pl.col("price") * (1 - pl.col(offer) / 100),
            retail_discount=pl.col("price") * pl.col(offer) / 100,
            coupon_discount=pl.lit(0.0),
        )
        parts.append(lines)
    last = pl.DataFrame(  # the export runs to the fortnight's last day (a consumer outside the plan)
        {"customer_id": [0], "item_id": [1], "timestamp": [dt.datetime.combine(END, dt.time(18))], "quantity": [1.0], "paid": [1.0]}
    ).with_columns(retail_discount=pl.lit(0.0), coupon_discount=pl.lit(0.0))
    return pl.concat([*parts, last.cast(parts[0].schema)])


def write_export(transactions: pl.DataFrame, folder: Path) -> Path:
    """The transactions as a canonical export folder (transactions.csv, items.csv)."""
    folder.mkdir(parents=True, exist_ok=True)
    transactions.write_csv(folder / "transactions.csv")
    items = transactions.select("item_id").unique().sort("item_id")
    items.with_columns(
        category=pl.when(pl.col("item_id") % 2 == 0).then(pl.lit("Dairy")).otherwise(pl.lit("Meat")),
        brand=pl.lit("b"),
        brand_type=pl.lit("Local"),
    ).write_csv(folder / "items.csv")
    return folder


def write_run(offers: pl.DataFrame, folder: Path, *, holdout: float = 0.3, explore: float = 0.3) -> Path:
    """A run folder holding the plan: recommendations/offers.parquet (and .csv), experiment.json
    (not for a plan without arms: one made before experiments), response.csv and config.json."""
    rec = folder / "recommendations"
    rec.mkdir(parents=True, exist_ok=True)
    offers.write_parquet(rec / "offers.parquet")
    offers.write_csv(rec / "offers.csv")
    if "arm" in offers.columns:
        (rec / "experiment.json").write_text(json.dumps(_experiment(offers, holdout, explore)))
    pl.DataFrame(
        {"category": ["Dairy", "Meat"], "slope": [0.035, 0.025], "se": [0.01, 0.01], "low": [0.0186, 0.0086], "high": [0.0514, 0.0414]}
    ).write_csv(rec / "response.csv")
    (folder / "config.json").write_text(Config().model_dump_json(indent=2))
    return folder


def _experiment(offers: pl.DataFrame, holdout: float, explore: float) -> dict:
    """experiment.json as the contract has it (without the power section)."""
    arms = offers.group_by("arm").agg(pl.len(), pl.col("customer_id").n_unique().alias("consumers"))
    consumers = dict(zip(arms["arm"], arms["consumers"]))
    return {
        "key": f"0:{START}",
        "seed": 0,
        "holdout_share": holdout,
        "explore_share": explore,
        "strata": 5,
        "levels": LEVELS,
        "period_start": str(START),
        "period_end": str(END),
        "consumers": {"holdout": consumers.get("holdout", 0), "plan": offers.filter(pl.col("arm") != "holdout")["customer_id"].n_unique()},
        "pairs": dict(zip(arms["arm"], arms["len"])),
    }
