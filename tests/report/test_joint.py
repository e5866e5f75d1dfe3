"""A plan judged as a whole on a truth with substitution, and the interaction-aware oracle."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.data.choice import ChoiceWorld, true_probability_under
from offerwise.optimize.levels import CategoryLevels
from offerwise.report.joint import joint_frame, joint_oracle, joint_scored
from offerwise.report.policy import policy_score

WORLD = ChoiceWorld(substitution=True, expansion=0.5)
GRID = (0.0, 10.0, 20.0, 30.0)
LEVELS = {"A": CategoryLevels("config", GRID, GRID, (0.0, 30.0))}


def _world(seed: int, consumers: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decision pairs with truth, every truth pair): each consumer has 2-3 items in A, one outside the decision."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(1, consumers + 1):
        for item in rng.choice(np.arange(10), int(rng.integers(2, 4)), replace=False):
            rows.append((c, int(item) + 100, rng.uniform(0.02, 0.08), rng.normal(-1.5, 0.7), float(rng.choice([0.0, 10.0]))))
    truth_all = pl.DataFrame(rows, schema=["customer_id", "item_id", "true_a", "true_b", "offer_pct"], orient="row").with_columns(
        category=pl.lit("A")
    )
    outside = truth_all.group_by("customer_id").agg(pl.col("item_id").max())  # each consumer's last item is not decided
    decided = truth_all.join(outside, on=["customer_id", "item_id"], how="anti")
    pairs = decided.with_columns(
        price=pl.lit(3.0) + pl.col("item_id") % 3,
        reference_offer_pct=pl.col("offer_pct"),
        probability=0.2,
        threshold=0.3,
        elasticity=0.0,
        category_a=0.04,
        pair_slope=0.04,
        cutoff_offer_pct=pl.col("offer_pct"),
    ).drop("offer_pct")
    return pairs, truth_all


def _best_bundles(pairs: pl.DataFrame, frame: pl.DataFrame, world: ChoiceWorld) -> float:
    """Σ over consumers of the best joint value (every category of `frame`) among their bundles of up
    to 2 offers at the grid's levels and the status quo, by brute force."""
    best_total = 0.0
    for _, group in pairs.group_by("customer_id"):
        keys = group.select("customer_id", "item_id")
        candidates = [
            keys.with_columns(offer=pl.col("item_id") * 0.0 + pl.Series(combo)) for combo in itertools.product(GRID, repeat=group.height)
        ]
        candidates = [c for c in candidates if (c.get_column("offer") > 0).sum() <= 2]
        candidates.append(group.select("customer_id", "item_id", offer=pl.col("reference_offer_pct")))
        mine = frame.join(keys.select("customer_id").unique(), on="customer_id")
        best_total += max(joint_scored("x", c, mine, world, None).get_column("joint_true_expected_value").sum() for c in candidates)
    return best_total


def test_the_joint_value_counts_every_item_of_the_consumers_category():
    pairs, truth_all = _world(1)
    frame = joint_frame(pairs, truth_all)
    assert frame.height == truth_all.height and frame.get_column("in_plan").sum() == pairs.height
    status_quo = pairs.select("customer_id", "item_id", offer=pl.col("reference_offer_pct"))
    scored = joint_scored("status quo", status_quo, frame, WORLD, None)
    p = true_probability_under(frame.with_columns(offer=pl.col("reference")), "offer", WORLD)
    assert scored.item(0, "joint_true_expected_revenue") == pytest.approx(
        float((p * frame.get_column("price") * (1 - frame.get_column("reference") / 100)).sum())
    )


@pytest.mark.parametrize("seed", [2, 3])
def test_the_oracle_is_the_best_bundle_of_each_consumer_category_when_retention_is_free(seed):
    pairs, truth_all = _world(seed, consumers=3)
    frame = joint_frame(pairs, truth_all)
    cfg = OptimizeConfig(retention=0.01)
    oracle = joint_oracle(pairs, frame, WORLD, cfg, LEVELS)
    got = joint_scored("oracle", oracle, frame, WORLD, None).item(0, "joint_true_expected_value")
    assert got == pytest.approx(_best_bundles(pairs, frame, WORLD), rel=1e-6)


def test_the_policy_score_has_a_joint_score_beside_the_per_pair_ones():
    pairs, truth_all = _world(4, consumers=30)
    inputs = pairs.drop("true_a", "true_b")
    truth = pairs.select("customer_id", "item_id", "true_a", "true_b")
    offers = inputs.select("customer_id", "item_id", recommended_offer_pct=pl.lit(30.0))  # every pair at 30 %: they compete
    table = policy_score(inputs, offers, truth, OptimizeConfig(decision="pair"), LEVELS, world=WORLD, truth_all=truth_all)
    assert {"joint oracle", "rules oracle", "ours"} <= set(table.get_column("policy").to_list())
    overall = table.filter((pl.col("category") == "all") & (pl.col("policy") == "ours")).row(0, named=True)
    assert np.isfinite(overall["joint_score"]) and np.isfinite(overall["score"])
    assert overall["joint_score"] < 1.0 + 1e-9
    value = dict(table.filter(pl.col("category") == "all").select("policy", "joint_true_expected_value").iter_rows())
    assert value["joint oracle"] >= max(value["ours"], value["status quo"]) - 1e-9
    gain = (value["ours"] - value["status quo"]) / (value["joint oracle"] - value["status quo"])
    assert overall["joint_score"] == pytest.approx(gain)


def test_the_joint_score_is_also_told_against_an_oracle_free_of_the_rules_levels():
    pairs, truth_all = _world(4, consumers=30)
    inputs = pairs.drop("true_a", "true_b")
    truth = pairs.select("customer_id", "item_id", "true_a", "true_b")
    offers = inputs.select("customer_id", "item_id", recommended_offer_pct=pl.lit(30.0))
    rules = {"A": CategoryLevels("rules", (30.0,), GRID, (0.0, 30.0))}  # the retailer allows 30 % only
    table = policy_score(inputs, offers, truth, OptimizeConfig(decision="pair"), rules, world=WORLD, truth_all=truth_all)
    value = dict(table.filter(pl.col("category") == "all").select("policy", "joint_true_expected_value").iter_rows())
    assert value["joint unconstrained oracle"] > value["joint oracle"] + 1e-6  # no offer, 10 and 20 % are worth something here
    overall = table.filter((pl.col("category") == "all") & (pl.col("policy") == "ours")).row(0, named=True)
    gain = value["ours"] - value["status quo"]
    assert overall["joint_score_unconstrained"] == pytest.approx(gain / (value["joint unconstrained oracle"] - value["status quo"]))
    assert overall["joint_score"] == pytest.approx(gain / (value["joint oracle"] - value["status quo"]))


@pytest.mark.parametrize("seed", [5, 6])
def test_the_oracle_values_what_its_offers_pull_from_a_related_category(seed):
    """B's incidence falls as A's offers raise A's inclusive value (W[B, A] = 1, δ = 1): with B undecided
    the oracle's choice in A is the best bundle of each consumer counting B's loss."""
    world = ChoiceWorld(substitution=True, expansion=0.5, cross=1.0, weights={("B", "A"): 1.0})
    pairs, truth_a = _world(seed, consumers=3)
    rng = np.random.default_rng(seed)
    in_b = [(c, 200 + j, 0.03, rng.normal(-0.5, 0.3), 0.0, "B") for c in range(1, 4) for j in range(2)]
    truth_all = pl.concat([truth_a, pl.DataFrame(in_b, schema=truth_a.schema, orient="row")])
    frame = joint_frame(pairs, truth_all).with_columns(price=pl.col("price").fill_null(4.0))
    oracle = joint_oracle(pairs, frame, world, OptimizeConfig(retention=0.01), LEVELS)
    got = joint_scored("oracle", oracle, frame, world, None).get_column("joint_true_expected_value").sum()
    assert got == pytest.approx(_best_bundles(pairs, frame, world), rel=1e-6)
    blind = joint_oracle(pairs, frame, ChoiceWorld(substitution=True, expansion=0.5), OptimizeConfig(retention=0.01), LEVELS)
    blind_value = joint_scored("blind", blind, frame, world, None).get_column("joint_true_expected_value").sum()
    assert blind_value < got - 0.5  # blind to the pull, the oracle would give up about a tenth here


@pytest.mark.parametrize(("offer", "flatter"), [(0.0, 0.2), (30.0, 1.0)])
def test_the_joint_score_is_also_told_at_the_plans_own_true_retention(offer, flatter):
    """With flat responses no offer anywhere beats the oracle held to the retention target (a score above
    1 that only gives retention up); the oracle at the plan's own true retention gives up as much and is
    at least as good. Every pair at 30 % keeps more retention than the target's oracle, so the oracle
    at that retention must keep it too, and gains less."""
    pairs, truth_all = _world(7, consumers=30)
    pairs, truth_all = (f.with_columns(true_a=pl.col("true_a") * flatter) for f in (pairs, truth_all))
    inputs = pairs.drop("true_a", "true_b")
    truth = pairs.select("customer_id", "item_id", "true_a", "true_b")
    offers = inputs.select("customer_id", "item_id", recommended_offer_pct=pl.lit(offer))
    table = policy_score(inputs, offers, truth, OptimizeConfig(decision="pair"), LEVELS, world=WORLD, truth_all=truth_all)
    overall = table.filter(pl.col("category") == "all")
    value = dict(overall.select("policy", "joint_true_expected_value").iter_rows())
    kept = dict(overall.select("policy", "joint_true_retention").iter_rows())
    ours = overall.filter(pl.col("policy") == "ours").row(0, named=True)
    equal = "joint oracle at the plan's retention"
    assert kept[equal] >= kept["ours"] - 1e-9  # the oracle keeps the plan's true retention
    if offer == 0.0:
        assert kept["ours"] < kept["joint oracle"] and ours["joint_score"] > 1.0
        assert value[equal] > value["joint oracle"] + 1e-6 and ours["joint_score_equal_retention"] <= 1.0 + 1e-9
    else:
        assert kept["ours"] > kept["joint oracle"] and value[equal] < value["joint oracle"] - 1e-6
    assert ours["joint_score_equal_retention"] == pytest.approx(
        (value["ours"] - value["status quo"]) / (value[equal] - value["status quo"])
    )
