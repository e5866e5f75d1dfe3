import datetime as dt

import numpy as np
import polars as pl
import pytest

from offerwise.experiment.arms import experiment_key, uniform, with_arms

LEVELS = {"A": [0.0, 10.0, 20.0, 30.0], "B": [0.0, 25.0]}
KEY = experiment_key(0, dt.date(2019, 2, 25))


def _plan(consumers: int = 2000, items: int = 6, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = consumers * items
    return pl.DataFrame(
        {
            "customer_id": np.repeat(np.arange(consumers), items) + 100,
            "item_id": np.tile(np.arange(items), consumers) + 10_000,
            "category": np.where(np.tile(np.arange(items), consumers) < 3, "A", "B"),
            "reference_offer_pct": rng.choice([0.0, 5.0, 10.0], n),
            "recommended_offer_pct": rng.choice([0.0, 10.0, 20.0, 25.0], n),
            "expected_uplift": rng.gamma(1.0, 1.0, n),
        }
    )


def _arms(plan: pl.DataFrame, holdout: float = 0.1, explore: float = 0.05) -> pl.DataFrame:
    return with_arms(plan, LEVELS, holdout_share=holdout, explore_share=explore, strata=5, key=KEY)


def test_arms_are_reproducible_and_do_not_depend_on_row_order() -> None:
    plan = _plan()
    first = _arms(plan).sort("customer_id", "item_id")
    shuffled = _arms(plan.sample(fraction=1.0, shuffle=True, seed=3)).sort("customer_id", "item_id")
    assert first.equals(shuffled)
    other_fortnight = with_arms(plan, LEVELS, holdout_share=0.1, explore_share=0.05, strata=5, key=experiment_key(0, dt.date(2019, 3, 11)))
    assert not first.get_column("arm").equals(other_fortnight.sort("customer_id", "item_id").get_column("arm"))


def test_holdout_share_per_uplift_stratum_and_explore_share_within_tolerance() -> None:
    offers = _arms(_plan())
    consumers = offers.group_by("customer_id").agg(
        holdout=(pl.col("arm") == "holdout").all(),
        mixed=(pl.col("arm") == "holdout").n_unique() > 1,
        uplift=pl.col("expected_uplift").sum(),
    )
    assert not consumers.get_column("mixed").any()  # a consumer is held out whole
    assert consumers.get_column("holdout").mean() == pytest.approx(0.10, abs=0.002)  # exact per stratum, up to rounding
    top = consumers.filter(pl.col("uplift") >= pl.col("uplift").quantile(0.8))
    assert top.get_column("holdout").mean() == pytest.approx(0.10, abs=0.02)  # stratified: the plan's best consumers too
    treated = offers.filter(pl.col("arm") != "holdout")
    share = (treated.get_column("arm") == "explore").mean()
    assert abs(share - 0.05) < 3 * np.sqrt(0.05 * 0.95 / treated.height)


def test_holdout_keeps_the_status_quo_and_explore_draws_allowed_levels_uniformly() -> None:
    offers = _arms(_plan(consumers=6000))
    holdout = offers.filter(pl.col("arm") == "holdout")
    assert holdout.get_column("recommended_offer_pct").equals(holdout.get_column("reference_offer_pct"))
    assert (holdout.get_column("propensity") == 1.0).all()
    plan = offers.filter(pl.col("arm") == "plan")
    assert plan.get_column("recommended_offer_pct").equals(plan.get_column("plan_offer_pct"))
    explore = offers.filter(pl.col("arm") == "explore", pl.col("category") == "A")
    assert set(explore.get_column("recommended_offer_pct").unique()) == set(LEVELS["A"])
    counts = explore.get_column("recommended_offer_pct").value_counts().get_column("count").to_numpy()
    expected = explore.height / 4
    assert (np.abs(counts - expected) < 4 * np.sqrt(expected)).all()


def test_propensity_is_the_logging_probability_of_the_given_offer() -> None:
    offers = _arms(_plan(), explore=0.2).filter(pl.col("arm") != "holdout")
    e, levels = 0.2, pl.col("category").replace_strict({"A": 4, "B": 2}, return_dtype=pl.Float64)
    in_levels = pl.struct("category", "recommended_offer_pct").map_elements(
        lambda r: r["recommended_offer_pct"] in LEVELS[r["category"]], return_dtype=pl.Boolean
    )
    expected = (1 - e) * (pl.col("recommended_offer_pct") == pl.col("plan_offer_pct")) + e * in_levels / levels
    assert np.allclose(offers.get_column("propensity").to_numpy(), offers.select(expected).to_series().to_numpy())
    # over the offers a pair could get, the logging probabilities sum to one
    pair = offers.row(0, named=True)
    support = set(LEVELS[pair["category"]]) | {pair["plan_offer_pct"]}
    total = sum(
        (1 - e) * (o == pair["plan_offer_pct"]) + e * (o in LEVELS[pair["category"]]) / len(LEVELS[pair["category"]]) for o in support
    )
    assert total == pytest.approx(1.0)


def test_zero_shares_switch_the_experiment_off() -> None:
    plan = _plan(consumers=300)
    offers = _arms(plan, holdout=0.0, explore=0.0)
    assert (offers.get_column("arm") == "plan").all() and (offers.get_column("propensity") == 1.0).all()
    assert offers.get_column("recommended_offer_pct").equals(plan.get_column("recommended_offer_pct"))


def test_uniform_hash_is_stable_and_uniform() -> None:
    ids = np.arange(100_000)
    u = uniform("0:2019-02-25", "holdout", ids)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    assert np.array_equal(u, uniform("0:2019-02-25", "holdout", ids))
    # pinned: a plan's arms must not change with a numpy or polars upgrade (splitmix64 over blake2b of the key)
    assert uniform("0:2019-02-25", "holdout", np.array([42]))[0] == 0.45119125220537104
