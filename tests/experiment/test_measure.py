from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy.special import expit

from offerwise.experiment import estimates
from offerwise.experiment.measure import Design, arm_problem, by_category, measure, offer_history, pair_outcomes
from offerwise.experiment.slopes import explore_slopes
from tests.experiment.world import END, START, design, plan_world


def _coverage(intervals: list[estimates.Interval], truth: float) -> float:
    return float(np.mean([i.low <= truth <= i.high for i in intervals]))


def test_cuped_interval_covers_a_known_effect_and_is_narrower_than_the_plain_one() -> None:
    rng = np.random.default_rng(1)
    effect, cuped, plain, boot = 1.5, [], [], []
    for _ in range(200):
        x = rng.gamma(2.0, 5.0, 400)
        t = rng.random(400) < 0.5
        y = 3 + 0.9 * x + effect * t + rng.normal(0, 1 + 0.2 * x)  # heteroskedastic, like spend
        cuped.append(estimates.difference_in_means(y, t, 0.90, covariate=x))
        plain.append(estimates.difference_in_means(y, t, 0.90))
        boot.append(estimates.cluster_bootstrap(y, t, x, level=0.90, reps=100, seed=len(boot)))
    assert 0.84 <= _coverage(cuped, effect) <= 0.96
    assert 0.84 <= _coverage(plain, effect) <= 0.96
    assert 0.84 <= _coverage(boot, effect) <= 0.96
    assert np.mean([c.se for c in cuped]) < 0.5 * np.mean([p.se for p in plain])


def test_cuped_point_is_the_closed_form_within_arm_adjustment() -> None:
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=50), np.arange(50) % 2 == 0
    y = 2 * x + t + rng.normal(size=50)
    theta = estimates.cuped_theta(y, t, x)
    expected = (y[t].mean() - y[~t].mean()) - theta * (x[t].mean() - x[~t].mean())
    assert estimates.difference_in_means(y, t, 0.9, covariate=x).value == pytest.approx(expected)
    assert estimates.cluster_bootstrap(y, t, x, level=0.9, reps=10, seed=0).value == pytest.approx(expected)


def _pairs(rng: np.random.Generator, consumers: int) -> dict:
    """Pairs of `consumers` consumers with 4 items each: plan offer, price, true purchase probability."""
    base = np.repeat(rng.normal(-0.5, 1.0, consumers), 4)
    return {
        "consumer": np.repeat(np.arange(consumers), 4),
        "plan": rng.choice([0.0, 10.0, 20.0], base.size),
        "price": rng.uniform(2, 10, base.size),
        "p": lambda o: expit(base + 0.05 * o),
    }


def _logging_design(rng: np.random.Generator, pairs: dict, explore: float) -> tuple[np.ndarray, ...]:
    """Given offers drawn as the contract logs them, and the revenue they earned."""
    n, levels = pairs["plan"].size, np.array([0.0, 10.0, 20.0])
    given = np.where(rng.random(n) < explore, rng.choice(levels, n), pairs["plan"])
    propensity = (1 - explore) * (given == pairs["plan"]) + explore / levels.size
    bought = rng.random(n) < pairs["p"](given)
    revenue = bought * pairs["price"] * (1 - given / 100)
    return given, propensity, revenue


def _revenue(pairs: dict, offer: np.ndarray, wrong: bool = False) -> np.ndarray:
    """The expected revenue at `offer`; `wrong`: an outcome model that is off (DR needs none right)."""
    value = pairs["p"](offer) * pairs["price"] * (1 - offer / 100)
    return 0.5 * value + 0.3 if wrong else value


def test_ips_and_dr_are_unbiased_for_the_plan_value_under_the_logging_design() -> None:
    rng = np.random.default_rng(3)
    big = _pairs(rng, 500_000)
    truth = float(_revenue(big, big["plan"]).mean())  # the plan's value per pair in the population the pairs come from
    ips, dr = [], []
    for _ in range(300):
        pairs = _pairs(rng, 300)
        given, propensity, revenue = _logging_design(rng, pairs, explore=0.4)
        matches = given == pairs["plan"]
        q_plan, q_given = _revenue(pairs, pairs["plan"], wrong=True), _revenue(pairs, given, wrong=True)
        ips.append(estimates.clustered_mean(estimates.ips_terms(revenue, matches, propensity), pairs["consumer"], 0.9))
        dr.append(estimates.clustered_mean(estimates.dr_terms(revenue, matches, propensity, q_plan, q_given), pairs["consumer"], 0.9))
    for runs in (ips, dr):
        values = np.array([r.value for r in runs])
        assert abs(values.mean() - truth) < 3 * values.std() / np.sqrt(values.size)
        assert 0.84 <= _coverage(runs, truth) <= 0.96


def _explored(slope: float, n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(-1, 0.7, n)
    reference = rng.choice([0.0, 5.0], n)
    given = rng.choice([0.0, 10.0, 20.0, 30.0], n)
    bought = rng.random(n) < expit(base + 0.3 + slope * (given - reference))  # the model's level is off by 0.3: α takes it
    return pl.DataFrame(
        {
            "customer_id": rng.integers(0, n // 4, n),
            "category": "Dairy",
            "arm": "explore",
            "recommended_offer_pct": given,
            "reference_offer_pct": reference,
            "p_reference": expit(base),
            "bought": bought,
        }
    )


def test_explore_slope_recovers_a_known_logit_slope_beside_the_estimator() -> None:
    response = pl.DataFrame({"category": ["Dairy"], "slope": [0.03], "se": [0.01], "low": [0.0135], "high": [0.0465]})
    table = explore_slopes(_explored(0.04, 8000, seed=4), response, level=0.9)
    row = table.row(0, named=True)
    assert row["identified"] and row["n"] == 8000
    assert row["low"] <= 0.04 <= row["high"] and abs(row["slope"] - 0.04) < 0.01
    assert row["estimator_slope"] == 0.03 and row["estimator_high"] == 0.0465


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (_explored(0.04, 20, seed=5), "20 explored pairs"),
        (_explored(0.04, 200, seed=6).with_columns(recommended_offer_pct=pl.col("reference_offer_pct") + 10), "no offer variation"),
        (_explored(0.04, 200, seed=7).with_columns(bought=pl.lit(False)), "not bought"),
    ],
)
def test_a_category_without_enough_explored_variation_is_not_identified(frame: pl.DataFrame, says: str) -> None:
    row = explore_slopes(frame, None, level=0.9).row(0, named=True)
    assert not row["identified"] and row["slope"] is None and says in row["note"] and row["estimator_slope"] is None


def test_pair_outcomes_sum_what_was_paid_in_the_fortnight_and_the_one_before() -> None:
    offers = pl.DataFrame({"customer_id": [1, 1, 2], "item_id": [1, 2, 1], "period_start": [START] * 3, "period_end": [END] * 3})
    day = lambda d: dt.datetime.combine(d, dt.time(12))
    tx = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "item_id": [1, 1, 2, 1, 1],
            "timestamp": [
                day(START),
                day(END),
                day(START - dt.timedelta(days=1)),
                day(START - dt.timedelta(days=15)),
                day(END + dt.timedelta(1)),
            ],
            "paid": [2.0, 3.0, 4.0, 9.0, 9.0],
        }
    )
    expected = offers.with_columns(
        bought=pl.Series([True, False, False]), net_revenue=pl.Series([5.0, 0.0, 0.0]), net_revenue_before=pl.Series([0.0, 4.0, 0.0])
    )
    assert_frame_equal(pair_outcomes(offers, tx), expected)


def test_by_category_counts_per_arm_and_category_and_all() -> None:
    pairs = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "category": ["A", "B", "A", "A"],
            "arm": ["plan", "explore", "plan", "holdout"],
            "bought": [True, False, False, True],
            "p_recommended": [0.5, 0.2, 0.4, 0.6],
            "net_revenue": [3.0, 0.0, 0.0, 2.0],
            "expected_revenue_recommended": [1.0, 0.5, 0.8, 1.2],
        }
    )
    table = by_category(pairs)
    assert table.select("arm", "category").rows() == [
        ("holdout", "A"),
        ("holdout", "all"),
        ("explore", "B"),
        ("explore", "all"),
        ("plan", "A"),
        ("plan", "all"),
    ]
    plan_a = table.row(4, named=True)
    assert (plan_a["pairs"], plan_a["consumers"], plan_a["purchases"], plan_a["net_revenue"]) == (2, 2, 1, 3.0)
    assert plan_a["predicted_purchases"] == pytest.approx(0.9) and plan_a["retention"] == 0.5


@pytest.mark.parametrize(
    ("change", "holdout_share", "says"),
    [
        (lambda f: f.drop("arm", "propensity"), 0.1, "no arms; the plan was made before experiments"),
        (lambda f: f.with_columns(arm=pl.lit("control")), 0.1, "column 'arm' holds ['control']"),
        (lambda f: f.with_columns(arm=pl.lit("plan")), 0.1, "no holdout consumers although experiment.json's holdout_share is 0.1"),
        (lambda f: f.with_columns(arm=pl.lit("holdout")), 0.1, "no plan consumers"),
        (lambda f: f.with_columns(propensity=pl.lit(0.0)), 0.1, "'propensity' must lie in (0, 1]"),
        (lambda f: f.with_columns(arm=pl.when(pl.col("item_id") == 1).then(pl.lit("holdout")).otherwise("arm")), 0.1, "at once"),
    ],
)
def test_arm_problem_names_what_the_plan_misses(change, holdout_share: float, says: str) -> None:
    offers, _ = plan_world(consumers=20, items=2)
    assert arm_problem(offers, 0.3) is None
    assert says in arm_problem(change(offers), holdout_share)


def test_arm_problem_accepts_a_plan_without_holdout_when_none_was_drawn() -> None:
    offers, _ = plan_world(consumers=20, items=2, holdout=0.0)
    assert arm_problem(offers, 0.0) is None


def test_measure_on_a_planned_fortnight_with_a_known_response() -> None:
    offers, tx = plan_world(consumers=2000, seed=8)
    result = measure(offers, tx, design(), level=0.9, bootstrap=50, response=None)
    summary = {row["estimate"]: row for row in result.summary.iter_rows(named=True)}
    assert list(summary) == [
        "plan_minus_holdout_cuped",
        "plan_minus_holdout_bootstrap",
        "plan_minus_holdout_plain",
        "plan_minus_holdout_expected",
        "plan_value_ips",
        "plan_value_dr",
        "plan_arm_realised_mean",
        "holdout_realised_mean",
        "plan_value_expected",
    ]
    cuped, expected = summary["plan_minus_holdout_cuped"], summary["plan_minus_holdout_expected"]["value"]
    assert cuped["low"] <= expected <= cuped["high"]  # the model is the truth here
    assert cuped["high"] - cuped["low"] < summary["plan_minus_holdout_plain"]["high"] - summary["plan_minus_holdout_plain"]["low"]
    dr, truth = summary["plan_value_dr"], summary["plan_value_expected"]["value"]
    assert dr["low"] <= truth <= dr["high"]
    slopes = result.slopes.filter("identified")
    assert slopes.height == 2 and slopes.select((pl.col("low") < pl.col("high")).all()).item()
    history = ["item_id", "customer_id", "start_date", "end_date", "offer_pct", "arm", "propensity", "expected_offer_pct"]
    assert result.offer_history.columns == history
    assert result.offer_history.height == offers.height and (result.period_start, result.period_end) == (START, END)


def test_measure_without_holdout_says_there_is_nothing_to_compare() -> None:
    offers, tx = plan_world(consumers=100, holdout=0.0, explore=0.0)
    summary = measure(offers, tx, design(holdout=0.0, explore=0.0), level=0.9, bootstrap=20).summary
    cuped = summary.filter(pl.col("estimate") == "plan_minus_holdout_cuped").row(0, named=True)
    assert cuped["value"] is None and "no holdout" in cuped["note"]
    ips, realised = (
        summary.filter(pl.col("estimate") == e).get_column("value").item() for e in ("plan_value_ips", "plan_arm_realised_mean")
    )
    assert ips == pytest.approx(realised)  # no exploration: every propensity 1, IPS is the plan arm's mean


def test_measure_on_an_export_without_the_fortnight_before_is_the_plain_difference() -> None:
    offers, tx = plan_world(consumers=200, seed=9)
    summary = measure(offers, tx.filter(pl.col("timestamp").dt.date() >= START), design(), level=0.9, bootstrap=0).summary
    rows = {row["estimate"]: row for row in summary.iter_rows(named=True)}
    assert "plan_minus_holdout_bootstrap" not in rows  # bootstrap = 0: none
    assert rows["plan_minus_holdout_cuped"]["value"] == pytest.approx(rows["plan_minus_holdout_plain"]["value"])
    assert "no covariate" in rows["plan_minus_holdout_cuped"]["note"]


def test_offer_history_carries_the_designs_mean_offer() -> None:
    pairs = pl.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "item_id": [7, 7, 8],
            "category": ["A", "A", "B"],
            "period_start": [START] * 3,
            "period_end": [END] * 3,
            "recommended_offer_pct": [5.0, 20.0, 10.0],
            "reference_offer_pct": [5.0, 0.0, 0.0],
            "plan_offer_pct": [10.0, 10.0, 10.0],
            "arm": ["holdout", "explore", "plan"],
            "propensity": [1.0, 0.1, 1.0],
        }
    )
    design = Design(seed=0, holdout_share=0.2, explore_share=0.3, levels={"A": [0.0, 10.0, 20.0], "B": []})
    history = offer_history(pairs, design)
    # A: 0.2 · reference + 0.8 · (0.7 · 10 + 0.3 · 10); B has no levels (never explored): 0.2 · 0 + 0.8 · 10
    assert history.get_column("expected_offer_pct").to_list() == pytest.approx([0.2 * 5 + 0.8 * 10, 0.8 * 10, 0.8 * 10])
    assert history.get_column("offer_pct").to_list() == [5.0, 20.0, 10.0]
    nothing_randomised = Design(seed=0, holdout_share=0.0, explore_share=0.0, levels={"A": [0.0, 10.0, 20.0]})
    assert offer_history(pairs, nothing_randomised).get_column("expected_offer_pct").null_count() == 3
