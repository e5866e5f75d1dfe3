"""Cross effects of the other offers a consumer faces (offerwise.elasticity.dml.cross)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.config import ResponseConfig
from offerwise.elasticity.dml.cross import (
    CROSS_CATEGORY,
    POOLED,
    PULLS,
    _residuals,
    cross_response,
    permute_pressure,
    with_own_identification,
)
from offerwise.elasticity.dml.nuisances import _nuisance_params
from offerwise.features.interactions import CROSS_PRESSURE, PRESSURE
from offerwise.features.manifest import Feature

OWN, CROSS = 0.04, {"A": -0.05, "B": 0.0}
CUTOFF = 12


def cross_panel(seed: int = 0, customers: int = 500, periods: int = 14, pull: float = 0.0) -> tuple[pl.DataFrame, list[Feature]]:
    """Two categories of 30 items; each consumer buys from 3 items in each, with equal shares; item
    offers at random each period; logit p = affinity + OWN · offer + CROSS[c] · pressure, plus, in
    category B only, pull · the cross-category pressure (A's offers pull B; B's offers pull nothing)."""
    rng = np.random.default_rng(seed)
    items = {"A": np.arange(30), "B": np.arange(30, 60)}
    rows = []
    for c in range(customers):
        for cat, pool in items.items():
            for item in rng.choice(pool, 3, replace=False):
                rows.append((c, int(item), cat, rng.normal(-1.5, 0.5)))
    pairs = pl.DataFrame(rows, schema=["customer_id", "item_id", "category", "affinity"], orient="row")
    n = pairs.height
    frames = []
    for t in range(periods):
        item_offer = np.where(rng.random(60) < 0.35, rng.choice([10.0, 20.0, 30.0, 40.0], 60), 0.0)
        offer = item_offer[pairs.get_column("item_id").to_numpy()]
        frame = pairs.with_columns(offer_pct=pl.Series(offer), period=pl.lit(t))
        share = 1 / 3
        frame = frame.with_columns(
            (share * (pl.col("offer_pct").sum().over("customer_id", "category") - pl.col("offer_pct"))).alias(PRESSURE),
            (share / 2 * (pl.col("offer_pct").sum().over("customer_id") - pl.col("offer_pct").sum().over("customer_id", "category"))).alias(
                CROSS_PRESSURE
            ),
        )
        theta = frame.get_column("category").replace_strict(CROSS, return_dtype=pl.Float64).to_numpy()
        logit = frame.get_column("affinity").to_numpy() + OWN * offer + theta * frame.get_column(PRESSURE).to_numpy()
        logit += pull * (frame.get_column("category") == "B").to_numpy() * frame.get_column(CROSS_PRESSURE).to_numpy()
        frames.append(frame.with_columns(target=pl.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8))))
    frame = pl.concat(frames).with_columns(
        pl.col("offer_pct", PRESSURE, CROSS_PRESSURE).cast(pl.Float32),
        i_buyers_last=pl.lit(0.0, pl.Float32),
        i_regular_price=pl.lit(1.0, pl.Float32),
        lag_target_mean_2=pl.lit(0.0, pl.Float32),
    )
    features = [
        Feature("customer_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("item_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("category", "attribute", "static_categorical", "category", ""),
        Feature("offer_pct", "price_offer", "temporal_continuous", "float32", "", known_in_advance=True),
        Feature("affinity", "profile", "temporal_continuous", "float64", ""),
        Feature(PRESSURE, "interaction", "temporal_continuous", "float32", "", known_in_advance=True),
        Feature(CROSS_PRESSURE, "interaction", "temporal_continuous", "float32", "", known_in_advance=True),
        *(Feature(c, "profile", "temporal_continuous", "float32", "") for c in ("i_buyers_last", "i_regular_price", "lag_target_mean_2")),
    ]
    return frame, features


@pytest.fixture(scope="module")
def panel():
    return cross_panel()


@pytest.fixture(scope="module")
def tables(panel):
    frame, features = panel
    return cross_response(frame, features, ResponseConfig(max_rows=200_000), cutoff=CUTOFF, placebo=True)


@pytest.fixture(scope="module")
def table(tables):
    return tables[0]


def test_the_cross_slope_of_a_category_with_substitution_is_found_and_one_without_covers_zero(table):
    row = {r["category"]: r for r in table.iter_rows(named=True)}
    assert row["A"]["identified"] and row["B"]["identified"]
    assert abs(row["A"]["raw_slope"] - CROSS["A"]) < 3 * row["A"]["raw_se"]
    assert row["A"]["high"] < 0  # substitution is found: the interval excludes 0
    assert abs(row["B"]["raw_slope"]) < 3 * row["B"]["raw_se"]
    assert row[CROSS_CATEGORY]["low"] < 0 < row[CROSS_CATEGORY]["high"]  # no cross-category effect in this world
    assert row[POOLED]["rows"] == row["A"]["rows"] + row["B"]["rows"]


def test_rows_after_the_cutoff_are_never_read(panel, table):
    frame, features = panel
    changed = frame.with_columns(pl.when(pl.col("period") > CUTOFF).then(1 - pl.col("target")).otherwise("target").alias("target"))
    again, _ = cross_response(changed, features, ResponseConfig(max_rows=200_000), cutoff=CUTOFF)
    assert again.equals(table)


def test_the_placebo_breaks_the_cross_variation_and_covers_zero(panel, tables):
    frame, _ = panel
    permuted = permute_pressure(frame, seed=1)
    assert permuted.get_column(PRESSURE).sort().equals(frame.get_column(PRESSURE).sort())  # the same values, moved
    assert not permuted.get_column(PRESSURE).equals(frame.get_column(PRESSURE))
    placebo = {r["category"]: r for r in tables[1].iter_rows(named=True)}
    assert placebo[POOLED]["low"] < 0 < placebo[POOLED]["high"]
    assert placebo["A"]["low"] < 0 < placebo["A"]["high"]  # the substitution the estimate finds is gone
    assert tables[1].columns == tables[0].columns and tables[1].get_column("combined_z").is_null().all()


def test_an_offer_s_pull_on_the_consumer_s_other_purchases_is_found_where_they_substitute(panel, table):
    """In this world an offer point on item i moves each other item j of the consumer's category by
    CROSS · share on the logit, so their purchases by Σ_j q_j · CROSS / 3; on the own slope's scale
    (per q_i) φ is about CROSS · Σ_j q_j / (3 q_i)."""
    frame, _ = panel
    row = {r["category"]: r for r in table.iter_rows(named=True)}
    q = frame.filter(pl.col("category") == "A").with_columns(
        q=(1 / (1 + (-pl.col("affinity")).exp())) * (1 - 1 / (1 + (-pl.col("affinity")).exp()))
    )
    others = (q.get_column("q").sum() * 2 / 3) / q.height  # Σ_{j≠i} q_j / 3 per row, the consumer's 3 items alike
    expected = CROSS["A"] * others / q.get_column("q").mean()
    assert row["A"]["others_slope"] + 2.6 * row["A"]["others_se"] < 0  # found
    assert 0.5 < row["A"]["others_slope"] / expected < 1.5
    assert abs(row["B"]["others_slope"]) < 3 * row["B"]["others_se"]  # none where the items do not substitute
    assert abs(row[CROSS_CATEGORY]["others_slope"]) < 3 * row[CROSS_CATEGORY]["others_se"]  # nor across categories here


def test_the_pull_on_other_categories_is_told_per_offering_category(table):
    """A's offers pull B's purchases, B's pull nothing from A: φ_x of A is found below 0, B's covers 0,
    and the pooled φ_x (the CROSS_CATEGORY row) lies between them; where nothing pulls, every one covers 0."""
    frame, features = cross_panel(seed=2, pull=-0.08)
    pulled, _ = cross_response(frame, features, ResponseConfig(max_rows=200_000), cutoff=CUTOFF)
    row = {r["category"]: r for r in pulled.iter_rows(named=True)}
    assert row["A"]["others_x_slope"] + 1.645 * row["A"]["others_x_se"] < 0
    assert abs(row["B"]["others_x_slope"]) < 3 * row["B"]["others_x_se"]
    assert row["A"]["others_x_slope"] < row[CROSS_CATEGORY]["others_x_slope"] < row["B"]["others_x_slope"]
    assert row[CROSS_CATEGORY]["others_x_slope"] == row[CROSS_CATEGORY]["others_slope"]  # the pooled φ_x, as before
    for r in table.iter_rows(named=True):
        assert abs(r["others_x_slope"]) < 3 * r["others_x_se"], r["category"]


def test_the_combined_evidence_of_a_cross_category_pull_finds_it_and_not_its_absence(table):
    """combined_z adds θ_x's and φ_x's z-scores: beyond both alone where A's offers pull B, within
    the 90 % level where nothing pulls (and only the CROSS_CATEGORY row has one)."""
    frame, features = cross_panel(seed=2, pull=-0.08)
    pulled, _ = cross_response(frame, features, ResponseConfig(max_rows=200_000), cutoff=CUTOFF)
    row = pulled.filter(pl.col("category") == CROSS_CATEGORY).row(0, named=True)
    alone = min(row["cross_slope"] / row["se"], row["others_slope"] / row["others_se"])
    assert row["combined_z"] < alone < -1.645
    none = table.filter(pl.col("category") == CROSS_CATEGORY).row(0, named=True)
    assert abs(none["combined_z"]) < 1.645
    assert table.filter(pl.col("category") != CROSS_CATEGORY).get_column("combined_z").is_null().all()


def test_the_residuals_of_several_targets_on_one_dataset_are_cross_val_predict_s_exactly():
    from lightgbm import LGBMRegressor
    from sklearn.model_selection import GroupKFold, cross_val_predict

    rng = np.random.default_rng(3)
    W = rng.normal(size=(4000, 6)).astype(np.float32)
    W[rng.random(W.shape) < 0.05] = np.nan
    items = rng.integers(0, 80, 4000)
    targets = [W[:, 0].astype(float) * 2 + rng.normal(size=4000), np.abs(W[:, 1]).astype(float) + rng.random(4000)]
    targets = [np.nan_to_num(t) for t in targets]
    shared = _residuals(targets, W, items, folds=2, seed=5)
    _, params = _nuisance_params(4000, 2, 5)
    cv = GroupKFold(n_splits=2, shuffle=True, random_state=5)
    for target, residual in zip(targets, shared, strict=True):
        assert np.array_equal(residual, target - cross_val_predict(LGBMRegressor(**params), W, target, groups=items, cv=cv))


def test_a_category_whose_own_slope_is_not_identified_takes_the_pooled_pulls(table):
    """φ and φ_x regress on the own offer's residual: where that cannot identify the own slope, the
    category's pulls are the pooled ones (φ from the pooled row, φ_x from the cross-category row)."""
    categories = [c for c in table.get_column("category").to_list() if c not in (POOLED, CROSS_CATEGORY)]
    flat, kept = categories[0], categories[1:]
    own = pl.DataFrame({"category": categories, "identified": [c != flat for c in categories]})
    out = with_own_identification(table, own)
    row = lambda frame, name: frame.filter(pl.col("category") == name).row(0, named=True)  # noqa: E731
    pooled, pooled_x = row(table, POOLED), row(table, CROSS_CATEGORY)
    assert (row(out, flat)["others_slope"], row(out, flat)["others_se"]) == (pooled["others_slope"], pooled["others_se"])
    assert (row(out, flat)["others_x_slope"], row(out, flat)["others_x_se"]) == (pooled_x["others_slope"], pooled_x["others_se"])
    assert not row(out, flat)["others_identified"]
    for name in (*kept, POOLED, CROSS_CATEGORY):  # every other row as it was
        assert row(out, name)["others_identified"]
        assert all(row(out, name)[c] == row(table, name)[c] for c in PULLS)
    assert out.drop("others_identified").drop(*PULLS).equals(table.drop(*PULLS))
    assert with_own_identification(table, own.with_columns(identified=pl.lit(True))).drop("others_identified").equals(table)
    assert with_own_identification(table.drop(*PULLS), own).equals(table.drop(*PULLS))  # an earlier version's table
