"""Consumer-category bundles: the options, their values under the cross effect, and exact solves."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from offerwise.config import OptimizeConfig
from offerwise.optimize import consumer_category as cc
from offerwise.optimize.bundles import Units, evaluate, options_for, rows_of, single_offers
from offerwise.optimize.consumer_category import pair_arrays, with_nested_logit
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.offers import optimize_category
from offerwise.optimize.problem import ChangeSlopes
from offerwise.probability import clipped_logit, expit

LEVELS = CategoryLevels("config", (0.0, 10.0, 20.0, 30.0), (0.0, 10.0, 20.0, 30.0), (0.0, 30.0))


def _pairs(seed: int, consumers: int = 6, theta: float = -0.03) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, consumers)
    n = int(sizes.sum())
    customer = np.repeat(np.arange(1, consumers + 1), sizes)
    share = rng.dirichlet(np.ones(4), n)[:, 0] + 0.1
    share = share / pl.DataFrame({"c": customer, "s": share}).select(pl.col("s").sum().over("c")).to_series().to_numpy()
    return pl.DataFrame(
        {
            "customer_id": customer,
            "item_id": np.arange(n) + 100,
            "category": "A",
            "price": rng.uniform(1, 5, n),
            "reference_offer_pct": rng.choice([0.0, 10.0, 20.0], n),
            "probability": rng.uniform(0.05, 0.6, n),
            "threshold": 0.3,
            "elasticity": 0.0,
            "category_a": 0.04,
            "pair_slope": rng.uniform(0.01, 0.06, n),
            "category_share": share,
            "cross_slope": theta,
        }
    )


def _direct_value(pairs: pl.DataFrame, offers: np.ndarray) -> tuple[float, float]:
    """value and retention of a whole plan straight from the bundle model (no cross-category term)."""
    frame = pairs.with_columns(o=pl.Series(offers))
    w, o, k = (frame.get_column(c).to_numpy() for c in ("category_share", "o", "reference_offer_pct"))
    group = frame.get_column("customer_id").to_numpy()
    total = lambda x: pl.DataFrame({"g": group, "x": x}).select(pl.col("x").sum().over("g")).to_series().to_numpy()  # noqa: E731
    pressure, pressure_k = total(w * o) - w * o, total(w * k) - w * k
    logit = clipped_logit(frame.get_column("probability").to_numpy()) + frame.get_column("pair_slope").to_numpy() * (o - k)
    p = expit(logit + frame.get_column("cross_slope").to_numpy() * (pressure - pressure_k))
    return float((p * frame.get_column("price").to_numpy() * (1 - o / 100)).sum()), float(p.sum())


def _arrays(pairs: pl.DataFrame):
    slope = pairs.get_column("pair_slope").to_numpy()
    return pair_arrays(pairs, "counterfactual", "expected", slope, None, None), Units.of(pairs.get_column("customer_id").to_numpy())


def test_each_option_is_valued_as_the_whole_consumer_category_under_it():
    pairs = _pairs(1)
    arrays, units = _arrays(pairs)
    opts = single_offers(units, LEVELS)
    values = evaluate(arrays, units, opts)
    k = pairs.get_column("reference_offer_pct").to_numpy()
    for index in range(opts.unit.size):
        u = opts.unit[index]
        offers = k.copy()
        own = np.arange(units.start[u], units.start[u] + units.size[u])
        if not opts.status_quo[index]:
            offers[own] = 0.0
            if opts.items[index, 0] >= 0:
                offers[opts.items[index, 0]] = opts.levels[index, 0]
        value_all, retention_all = _direct_value(pairs, offers)
        value_sq, retention_sq = _direct_value(pairs, k)
        sq_own = values["value"][opts.first[u]]
        assert values["value"][index] - sq_own == pytest.approx(value_all - value_sq, abs=1e-9)
        assert values["retention"][index] - values["retention"][opts.first[u]] == pytest.approx(retention_all - retention_sq, abs=1e-9)


def test_an_offer_takes_sales_from_the_consumers_other_items():
    pairs = _pairs(2, theta=-0.05)
    arrays, units = _arrays(pairs)
    u = int(np.flatnonzero(units.size >= 2)[0])
    opts = single_offers(units, LEVELS)
    offered = np.flatnonzero((opts.unit == u) & (opts.items[:, 0] == units.start[u]) & (opts.levels[:, 0] == 30.0))[0]
    none = opts.first[u] + 1
    r_offered = cc.rows_of(arrays, units, opts.take(np.array([offered])))
    r_none = cc.rows_of(arrays, units, opts.take(np.array([none])))
    assert r_offered.prob[0] > r_none.prob[0]  # the offered item gains
    assert np.all(r_offered.prob[1:] < r_none.prob[1:])  # the consumer's other items lose


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_lagrangian_and_the_milp_match_a_brute_force_search_of_every_bundle(seed):
    pairs = _pairs(seed, consumers=4)
    cfg = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, retention=1.02, bundle_response="logit_shift")
    arrays, units = _arrays(pairs)
    opts, values = options_for(arrays, units, LEVELS, 1)
    R = 1.02 * values["retention"][opts.first].sum()
    best = -np.inf
    per_unit = [np.flatnonzero((opts.unit == u) & opts.allowed) for u in range(units.start.size)]
    for combo in itertools.product(*per_unit):
        combo = np.array(combo)
        if values["retention"][combo].sum() >= R - 1e-9:
            best = max(best, values["value"][combo].sum())
    problem = cc.bundle_problem(pairs, cfg, LEVELS)
    for solver in ("lagrangian", "milp"):
        sol, chosen = cc.solve([problem], problem.R, None, cfg.model_copy(update={"solver": solver}))
        assert values["retention"][chosen[0]].sum() >= R - 1e-9
        assert values["value"][chosen[0]].sum() <= best + 1e-9
        assert sol.bound >= best - 1e-9  # the certified bound holds the optimum
        if solver == "milp":
            assert values["value"][chosen[0]].sum() == pytest.approx(best, rel=1e-6)


def test_at_most_the_allowed_offers_per_consumer_category():
    pairs = _pairs(6, consumers=8, theta=0.0)
    for cap in (1, 2):
        cfg = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, max_offers_per_category=cap)
        offers, row = optimize_category(pairs, cfg, LEVELS)
        assert row["status"] == "ok"
        per_consumer = offers.group_by("customer_id").agg(
            offers=(pl.col("recommended_offer_pct") > 0).sum(),
            status_quo=(pl.col("recommended_offer_pct") == pl.col("reference_offer_pct")).all(),
        )
        assert per_consumer.filter(~pl.col("status_quo")).get_column("offers").max() <= cap  # the status quo keeps its own offers
        assert per_consumer.filter(~pl.col("status_quo")).height > 0
        assert row["offers_per_consumer_category"] <= max(cap, 3)


def test_several_offers_are_combined_and_valued_jointly():
    pairs = _pairs(7, consumers=3, theta=-0.02)
    arrays, units = _arrays(pairs)
    opts, values = options_for(arrays, units, LEVELS, 2)
    assert ((opts.items >= 0).sum(axis=1) == 2).any()
    k = pairs.get_column("reference_offer_pct").to_numpy()
    pick = np.flatnonzero((opts.items >= 0).sum(axis=1) == 2)[0]
    u = opts.unit[pick]
    offers = k.copy()
    offers[units.start[u] : units.start[u] + units.size[u]] = 0.0
    offers[opts.items[pick]] = opts.levels[pick]
    value_all, _ = _direct_value(pairs, offers)
    value_sq, _ = _direct_value(pairs, k)
    assert values["value"][pick] - values["value"][opts.first[u]] == pytest.approx(value_all - value_sq, abs=1e-9)


def test_without_a_cross_effect_and_with_one_offer_the_units_agree_with_the_pair_route_where_one_pair_each():
    pairs = _pairs(8, consumers=10, theta=0.0).group_by("customer_id", maintain_order=True).head(1)
    cfg = OptimizeConfig(response="counterfactual", pair_slope_weight=1.0, retention=1.01)
    bundle, row_b = optimize_category(pairs, cfg, LEVELS)
    pair, row_p = optimize_category(pairs, cfg.model_copy(update={"decision": "pair"}), LEVELS)
    assert row_b["objective_after"] == pytest.approx(row_p["objective_after"], rel=1e-6)
    assert row_b["decision"] == "consumer_category" and row_p["decision"] == "pair"


def test_a_large_consumer_category_offers_among_its_best_screened_items():
    from offerwise.optimize.bundles import CANDIDATES, eligible_pairs, screen

    pairs = _pairs(9, consumers=1).head(0)
    rng = np.random.default_rng(9)
    n = CANDIDATES + 10
    pairs = pl.DataFrame(
        {
            "customer_id": np.ones(n, int),
            "item_id": np.arange(n),
            "category": "A",
            "price": rng.uniform(1, 5, n),
            "reference_offer_pct": 0.0,
            "probability": rng.uniform(0.05, 0.6, n),
            "threshold": 0.3,
            "elasticity": 0.0,
            "category_a": 0.04,
            "pair_slope": rng.uniform(0.0, 0.06, n),
            "category_share": 1.0 / n,
            "cross_slope": -0.02,
        }
    )
    arrays, units = _arrays(pairs)
    score = screen(arrays, units, LEVELS)
    keep = eligible_pairs(score, units, CANDIDATES)
    assert keep.sum() == CANDIDATES and score[keep].min() >= score[~keep].max()
    opts, values = options_for(arrays, units, LEVELS, 1)
    exact = single_offers(units, LEVELS)
    exact_values = evaluate(arrays, units, exact)
    assert values["value"].max() == pytest.approx(exact_values["value"].max())  # the best single offer is among the candidates


@pytest.mark.parametrize(("high", "nested"), [(-0.01, True), (0.002, False), (None, False)])
def test_the_nested_logit_values_bundles_only_where_substitution_is_found(high, nested) -> None:
    """A negative cross slope whose interval reaches 0 (cross_slope_high >= 0, or unknown) is no evidence of
    substitution: the bundles keep the logit shift, whose items are independent without a cross effect."""
    pairs = _pairs(5, theta=-0.004).with_columns(probability=pl.col("probability") * 0.2)  # a single-choice category
    pairs = pairs if high is None else pairs.with_columns(cross_slope_high=pl.lit(high))
    arrays, units = _arrays(pairs)
    assert (with_nested_logit(arrays, units).nested is not None) == nested


def test_a_category_bought_several_times_a_fortnight_keeps_the_logit_shift() -> None:
    """The nested logit's incidence is a probability: where consumers' expected purchases of the
    category's items pass 1 a fortnight (a department, not a single-choice category) it does not apply."""
    pairs = _pairs(5, theta=-0.004).with_columns(cross_slope_high=pl.lit(-0.001), probability=pl.col("probability") * 0.2)
    arrays, units = _arrays(pairs)
    assert with_nested_logit(arrays, units).nested is not None
    several = pairs.with_columns(probability=pl.lit(0.6))  # 2+ items per consumer: expected purchases above 1
    arrays, units = _arrays(several)
    assert np.quantile(units.unit_sums(arrays.f), 0.99) > 1 and with_nested_logit(arrays, units).nested is None


def test_purchases_outside_the_decision_are_valued_and_an_offer_takes_share_from_them() -> None:
    """The consumer's purchases of items the decision does not hold are in the nested logit's S: the
    status quo counts their value, and an offer deeper than the status quo takes share from them."""
    outside = 0.15
    pairs = _pairs(5, theta=-0.004).with_columns(
        cross_slope_high=pl.lit(-0.001),
        probability=pl.col("probability") * 0.2,
        outside_purchases=pl.lit(outside),
        outside_unit_value=pl.lit(3.0),
    )
    arrays, units = _arrays(pairs)
    arrays = with_nested_logit(arrays, units)
    opts = single_offers(units, LEVELS)
    values, rows = evaluate(arrays, units, opts), rows_of(arrays, units, opts)
    decided = np.bincount(rows.option, rows.prob * rows.unit_value, minlength=opts.unit.size)
    np.testing.assert_allclose(rows.outside[opts.first], outside)
    np.testing.assert_allclose(values["value"][opts.first] - decided[opts.first], outside * 3.0)
    no_status_quo_offer = units.unit_sums(arrays.k)[opts.unit] == 0  # the option's other items stay at their status quo
    deeper = (opts.items[:, 0] >= 0) & (opts.levels[:, 0] > 0) & no_status_quo_offer
    assert deeper.any() and np.all(rows.outside[deeper] < outside)


def test_under_the_nested_logit_the_worse_end_of_the_slope_interval_is_taken_per_bundle() -> None:
    """One category slope moves the offered item up and its neighbours down together: what the retention
    constraint counts is the unit's retention at the worse of the interval's two ends, which is at least
    the sum of each pair's worse end (that would count both ends at once)."""
    pairs = _pairs(6, theta=-0.004).with_columns(cross_slope_high=pl.lit(-0.001), probability=pl.col("probability") * 0.2)
    slope = pairs.get_column("pair_slope").to_numpy()
    units = Units.of(pairs.get_column("customer_id").to_numpy())
    arrays = with_nested_logit(pair_arrays(pairs, "counterfactual", "expected", slope, (0.5 * slope, 1.5 * slope), None), units)
    opts = single_offers(units, LEVELS)
    constrained = evaluate(arrays, units, opts)["constrained"]
    b, ends, lam, n0 = arrays.nested
    at_end = [evaluate(replace(arrays, nested=(e, None, lam, n0)), units, opts)["retention"] for e in ends]
    np.testing.assert_allclose(constrained, np.minimum(*at_end))
    rows = [rows_of(replace(arrays, nested=(e, None, lam, n0)), units, opts).prob for e in ends]
    per_pair = np.bincount(rows_of(arrays, units, opts).option, np.minimum(*rows), minlength=opts.unit.size)
    assert np.all(constrained >= per_pair - 1e-12) and np.any(constrained > per_pair + 1e-6)


def test_the_estimated_pull_on_other_categories_moves_their_purchases_at_their_unit_value() -> None:
    """With φ_x estimated, an option changes the consumer's purchases in other categories by
    φ_x Σ_i f_i (1 − f_i) (o_i − k_i), valued at cross_category_unit_value and counted in retention."""
    pairs = _pairs(7).with_columns(cross_category_unit_value=pl.lit(2.0))
    arrays, units = _arrays(pairs.with_columns(cross_category_others=pl.lit(-0.01)))
    blind, _ = _arrays(pairs.with_columns(cross_category_others=pl.lit(0.0)))
    opts = single_offers(units, LEVELS)
    pulled, unpulled = evaluate(arrays, units, opts), evaluate(blind, units, opts)
    r = rows_of(arrays, units, opts)
    f = arrays.f[r.pair]
    moved = -0.01 * np.bincount(r.option, f * (1 - f) * (r.offer - arrays.k[r.pair]), minlength=opts.unit.size)
    np.testing.assert_allclose(pulled["value"] - unpulled["value"], 2.0 * moved, atol=1e-12)
    np.testing.assert_allclose(pulled["retention"] - unpulled["retention"], moved, atol=1e-12)
    assert np.any(moved < 0)  # deeper offers than the status quo take from the other categories


def test_under_the_nested_logit_the_pull_on_other_categories_follows_the_log_sum_calibrated_to_phi_x() -> None:
    """Under the nested logit the pull moves the consumer's other categories by δ · (log S(o) − log N0):
    at the status quo its derivative is φ_x's on average (choice_model.cross_category_pull), a deep offer
    on a large share pulls more than the linear route says, and the related categories' purchases
    outside the decision are pulled alike."""
    pairs = _pairs(8, theta=-0.004).with_columns(
        cross_slope_high=pl.lit(-0.001),
        probability=pl.col("probability") * 0.2,
        reference_offer_pct=pl.lit(0.0),
        cross_category_unit_value=pl.lit(2.0),
        cross_category_retention=pl.lit(0.5),
        cross_category_outside=pl.lit(0.0),
        cross_category_outside_value=pl.lit(0.0),
    )
    phi_x = -0.01
    arrays, units = _arrays(pairs.with_columns(cross_category_others=pl.lit(phi_x)))
    nested = with_nested_logit(arrays, units)
    linear = replace(nested, pull_x=float("nan"))  # the same offers, the pull linear in them (the logit shift's route)
    b, _, _, n0 = nested.nested
    f = nested.f
    assert nested.pull_x == pytest.approx(-phi_x * np.mean(f * (1 - f)) / np.mean(0.5 * b * f / n0))
    opts = single_offers(units, LEVELS)
    blind = evaluate(replace(nested, pull_x=0.0), units, opts)
    by_log_sum, by_offer = (evaluate(a, units, opts)["retention"] - blind["retention"] for a in (nested, linear))
    np.testing.assert_allclose(by_log_sum[opts.first], 0.0, atol=1e-12)  # the status quo pulls nothing
    deep = (opts.items[:, 0] >= 0) & (opts.levels[:, 0] == 30.0)
    assert np.all(by_log_sum[deep] < 0) and by_log_sum[deep].sum() < by_offer[deep].sum()  # convex in the offer
    outside = with_nested_logit(
        _arrays(pairs.with_columns(cross_category_others=pl.lit(phi_x), cross_category_outside=pl.lit(0.25)))[0], units
    )
    more = evaluate(outside, units, opts)["retention"] - blind["retention"]
    np.testing.assert_allclose(more[deep], by_log_sum[deep] * (0.5 + 0.25) / 0.5)


def test_under_the_change_caution_the_nested_logit_is_calibrated_at_the_mean_and_moves_by_direction() -> None:
    """λ and the cross-category pull from the posterior mean; each move's utility by its direction's slope."""
    pairs = _pairs(5, theta=-0.004).with_columns(cross_slope_high=pl.lit(-0.001), probability=pl.col("probability") * 0.2)
    mean = pairs.get_column("pair_slope").to_numpy()
    units = Units.of(pairs.get_column("customer_id").to_numpy())
    plain = with_nested_logit(pair_arrays(pairs, "dml", "expected", mean, None, None), units)
    change = with_nested_logit(pair_arrays(pairs, "dml", "expected", ChangeSlopes(0.5 * mean, 1.5 * mean, mean), None, None), units)
    b, b_change = plain.nested[0], change.nested[0]
    assert change.nested[2] == plain.nested[2] and np.allclose(b_change.central, b)  # the same λ and utility slopes at the mean
    assert np.allclose(b_change.rise, 0.5 * b) and np.allclose(b_change.fall, 1.5 * b)  # one conversion factor per category
    opts, _ = options_for(change, units, LEVELS, 1)
    r, r_plain = rows_of(change, units, opts), rows_of(plain, units, opts)
    k = pairs.get_column("reference_offer_pct").to_numpy()[r.pair]
    rose, fell = r.offer > k, r.offer < k
    assert rose.any() and fell.any()
    assert (r.prob[rose] < r_plain.prob[rose]).all() and (r.prob[fell] < r_plain.prob[fell]).all()  # pessimistic both ways


def test_below_the_median_the_pulls_on_the_other_items_are_taken_toward_taking_more_of_them() -> None:
    """φ at response_quantile of its interval: more of the consumer's other purchases taken, so a smaller
    λ and a smaller net uplift of an offer; at the median, or without φ's SE (an earlier version's
    inputs), φ as estimated."""
    pairs = _pairs(5, consumers=20, theta=-0.004).with_columns(
        cross_slope_high=pl.lit(-0.001), probability=pl.col("probability") * 0.2, others_slope=pl.lit(-0.01), others_se=pl.lit(0.002)
    )
    mean = pairs.get_column("pair_slope").to_numpy()
    units = Units.of(pairs.get_column("customer_id").to_numpy())
    at = lambda frame, q: pair_arrays(frame, "dml", "expected", mean, None, None, others_quantile=q)  # noqa: E731
    assert at(pairs, 0.5).others == pytest.approx(-0.01) and at(pairs.drop("others_se"), 0.25).others == pytest.approx(-0.01)
    assert at(pairs, 0.25).others == pytest.approx(-0.01 - 0.6745 * 0.002, abs=1e-6)
    plain, cautious = (with_nested_logit(at(pairs, q), units) for q in (0.5, 0.25))
    assert cautious.nested[2] < plain.nested[2]  # λ: less of the category grows, more is taken from its other items
    opts, _ = options_for(plain, units, LEVELS, 1)
    gain = lambda arrays: evaluate(arrays, units, opts)["value"] - evaluate(arrays, units, opts)["value"][opts.first][opts.unit]  # noqa: E731
    k = pairs.get_column("reference_offer_pct").to_numpy()
    without_offers = units.unit_sums(k) == 0  # units whose status quo offers nothing: every offer there is a rise
    rise = without_offers[opts.unit] & ((opts.levels > 0) & (opts.items >= 0)).any(axis=1)
    assert rise.sum() >= 5 and (gain(cautious)[rise] < gain(plain)[rise]).all()
    pulled = pairs.with_columns(cross_category_others=pl.lit(-0.004), cross_category_others_se=pl.lit(0.003))
    assert at(pulled, 0.25).others_x == pytest.approx(-0.004 - 0.6745 * 0.003, abs=1e-6) and at(pulled, 0.5).others_x == -0.004
    assert at(pulled.with_columns(cross_category_others=0.0, cross_category_others_se=0.0), 0.25).others_x == 0.0  # none counted
    dml = pairs.with_columns(dml_slope=pl.col("pair_slope"), dml_slope_sd=0.0, dml_slope_category_se=0.0)
    chosen = {q: cc.bundle_problem(dml, OptimizeConfig(response="dml", response_quantile=q), LEVELS).arrays.others for q in (0.5, 0.25)}
    assert chosen[0.25] < chosen[0.5] == pytest.approx(-0.01)
