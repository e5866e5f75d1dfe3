"""What happened in the decided fortnight, per arm, with intervals (pure: pipeline/measure.py reads the
plan and the export and writes what `measure` returns).

The plan's offers file carries the experiment (experiment/arms.py; /work/notes/experiment-contract.md):
holdout consumers got the status quo, the other consumers' pairs the plan's offer or, explored, a random
allowed level with its probability (`propensity`). A pair's realised net revenue is what its consumer
paid for the item in the fortnight (every unit, every line); it was bought if any line was paid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.columns import DESIGN_MEAN, PAIR
from offerwise.experiment import estimates
from offerwise.experiment.arms import EXPLORE, HOLDOUT, PLAN
from offerwise.experiment.slopes import explore_slopes
from offerwise.optimize.recommendations import RECOMMENDATION_COLUMNS

ARMS = (HOLDOUT, EXPLORE, PLAN)
ARM_COLUMNS = ("arm", "propensity", "plan_offer_pct", "p_plan", "expected_revenue_plan")
# what measure reads of the offers file's other columns: the plan's contract less what it does not use
PLAN_COLUMNS = tuple(c for c in RECOMMENDATION_COLUMNS if c not in ("expected_uplift", "binding", "run_id"))
SUMMARY_SCHEMA = {
    "estimate": pl.String,
    "value": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "level": pl.Float64,
    "method": pl.String,
    "n": pl.Int64,
    "unit": pl.String,
    "note": pl.String,
}  # then period_start, period_end: the fortnight measured
SAME_OFFER = 1e-6  # offer points: the given offer is the plan's


@dataclass(frozen=True)
class Design:
    """What measure needs of experiment.json: the seed (the bootstrap's too), the holdout and
    exploration shares and each category's allowed levels (empty: the category is not explored)."""

    seed: int
    holdout_share: float
    explore_share: float
    levels: dict[str, list[float]]


@dataclass
class Measurement:
    """summary (SUMMARY_SCHEMA, one row per estimate), by_category, slopes (experiment/slopes.py),
    offer_history (the fortnight's offers in the offer history layout) and the decided fortnight."""

    summary: pl.DataFrame
    by_category: pl.DataFrame
    slopes: pl.DataFrame
    offer_history: pl.DataFrame
    period_start: dt.date
    period_end: dt.date


def arm_problem(offers: pl.DataFrame, holdout_share: float) -> str | None:
    """Why the plan's arms cannot be measured (None: they can): no arm columns, unknown arms or
    propensities outside (0, 1], a consumer in the holdout and the plan at once, no holdout
    consumers although the experiment kept some, or no plan consumers."""
    missing = [c for c in ARM_COLUMNS if c not in offers.columns]
    if missing:
        return "no arms; the plan was made before experiments (rerun `offerwise recommend`)"
    unknown = sorted(set(offers.get_column("arm").drop_nulls().to_list()) - set(ARMS))
    if unknown or offers.get_column("arm").null_count():
        return f"column 'arm' holds {unknown or 'empty values'}; expected {', '.join(ARMS)}"
    numbers = [c for c in ARM_COLUMNS[1:] if not offers.schema[c].is_numeric() or offers.get_column(c).null_count()]
    if numbers:
        return f"column {', '.join(repr(c) for c in numbers)} is not all numbers"
    if not offers.get_column("propensity").is_between(0, 1, closed="right").all():
        return "column 'propensity' must lie in (0, 1]"
    held = offers.group_by("customer_id").agg((pl.col("arm") == "holdout").n_unique().alias("kinds"))
    if held.filter(pl.col("kinds") > 1).height:
        return "consumers with pairs in the holdout and in the plan at once; the holdout is drawn by consumer"
    arms = set(offers.get_column("arm").unique().to_list())
    if holdout_share > 0 and "holdout" not in arms:
        return f"no holdout consumers although experiment.json's holdout_share is {holdout_share}; plan − holdout cannot be measured"
    if not arms - {"holdout"}:
        return "no plan consumers: every consumer is in the holdout"
    return None


def pair_outcomes(offers: pl.DataFrame, transactions: pl.DataFrame) -> pl.DataFrame:
    """The offers with bought, net_revenue (Σ paid in the decided fortnight) and net_revenue_before
    (Σ paid in the fortnight of the same length just before it), 0 / false for pairs not bought."""
    start, end = offers.get_column("period_start").min(), offers.get_column("period_end").max()
    before = start - dt.timedelta(days=(end - start).days + 1)
    date = pl.col("timestamp").dt.date()
    during = pl.col("date") >= start
    per_pair = (
        transactions.select(*PAIR, "paid", date=date)
        .filter(pl.col("date").is_between(before, end))
        .group_by(PAIR)
        .agg(
            bought=during.any(),
            net_revenue=pl.col("paid").filter(during).sum(),
            net_revenue_before=pl.col("paid").filter(~during).sum(),
        )
    )
    ids = offers.with_columns(pl.col(c).cast(transactions.schema[c]) for c in PAIR)
    return ids.join(per_pair, on=PAIR, how="left").with_columns(
        pl.col("bought").fill_null(False), pl.col("net_revenue", "net_revenue_before").fill_null(0.0)
    )


def consumer_outcomes(pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per consumer over the plan's pairs: customer_id, treated (not holdout), pairs,
    net_revenue, net_revenue_before, expected_difference (Σ expected_revenue_recommended −
    expected_revenue_reference: the given offers against the status quo, in the model's view)."""
    return (
        pairs.group_by("customer_id")
        .agg(
            treated=(pl.col("arm") != "holdout").all(),
            pairs=pl.len(),
            net_revenue=pl.col("net_revenue").sum(),
            net_revenue_before=pl.col("net_revenue_before").sum(),
            expected_difference=(pl.col("expected_revenue_recommended") - pl.col("expected_revenue_reference")).sum(),
        )
        .sort("customer_id")
    )


def _row(name: str, est: estimates.Interval, level: float, method: str, n: int, unit: str, note: str) -> tuple:
    finite = lambda v: v if np.isfinite(v) else None
    return (name, finite(est.value), finite(est.low), finite(est.high), level, method, n, unit, note)


def difference_rows(consumers: pl.DataFrame, *, level: float, bootstrap: int, seed: int) -> list[tuple]:
    """plan − holdout net revenue per consumer: CUPED, its cluster bootstrap, the plain difference,
    and the model's expectation (SUMMARY_SCHEMA rows)."""
    t = consumers.get_column("treated").to_numpy()
    y, x = (consumers.get_column(c).to_numpy() for c in ("net_revenue", "net_revenue_before"))
    n_t, n_c = int(t.sum()), int((~t).sum())
    who = f"{n_t:,} plan consumers (their explored pairs included) against {n_c:,} holdout consumers"
    expected = estimates.Interval(float(consumers.filter("treated").get_column("expected_difference").mean()), *[float("nan")] * 3)
    model = _row(
        "plan_minus_holdout_expected",
        expected,
        level,
        "model",
        n_t,
        "consumer",
        "mean over plan consumers of Σ over their pairs of expected_revenue_recommended − expected_revenue_reference (the given "
        "offers against the status quo the holdout got); the model counts one unit per pair bought, the realised rows every unit paid",
    )
    if n_c == 0:
        none = "no holdout consumers (holdout_share = 0): nothing to compare the plan with"
        return [_row("plan_minus_holdout_cuped", estimates.NONE, level, "CUPED, normal", n_t, "consumer", none), model]
    cuped = estimates.difference_in_means(y, t, level, covariate=x)
    plain = estimates.difference_in_means(y, t, level)
    theta = estimates.cuped_theta(y, t, x)
    reduction = 1 - (cuped.se / plain.se) ** 2 if plain.se > 0 else float("nan")
    covariate = (
        f"covariate: net revenue on the same pairs in the fortnight before (θ = {theta:.3f}, variance {reduction:.0%} lower than "
        "the plain difference)"
        if np.isfinite(theta)
        else "no covariate: nobody bought these pairs in the fortnight before (not in the export?), so this is the plain difference"
    )
    rows = [
        _row(
            "plan_minus_holdout_cuped",
            cuped,
            level,
            "CUPED, normal",
            n_t + n_c,
            "consumer",
            f"{who}; {covariate}; OLS with HC2 standard errors",
        ),
    ]
    if bootstrap > 0:
        boot = estimates.cluster_bootstrap(y, t, x, level=level, reps=bootstrap, seed=seed)
        note = f"the CUPED difference, percentile interval of {bootstrap} resamples of consumers within each arm (seed {seed})"
        rows.append(_row("plan_minus_holdout_bootstrap", boot, level, "CUPED, cluster bootstrap", n_t + n_c, "consumer", note))
    rows.append(_row("plan_minus_holdout_plain", plain, level, "difference in means, normal", n_t + n_c, "consumer", f"{who}; Welch"))
    return [*rows, model]


def value_rows(pairs: pl.DataFrame, *, level: float) -> list[tuple]:
    """The plan's value per pair (every pair of a plan consumer given plan_offer_pct) from the
    randomised pairs by IPS and DR, the plan arm's realised mean, the holdout's, and the model's
    expectation (SUMMARY_SCHEMA rows; SEs clustered by consumer)."""
    randomised = pairs.filter(pl.col("arm") != "holdout")
    column = lambda frame, c: frame.get_column(c).to_numpy().astype(float)
    r, propensity = column(randomised, "net_revenue"), column(randomised, "propensity")
    matches = np.abs(column(randomised, "recommended_offer_pct") - column(randomised, "plan_offer_pct")) < SAME_OFFER
    q_plan, q_given = column(randomised, "expected_revenue_plan"), column(randomised, "expected_revenue_recommended")
    who = randomised.get_column("customer_id").to_numpy()
    ips = estimates.clustered_mean(estimates.ips_terms(r, matches, propensity), who, level)
    dr = estimates.clustered_mean(estimates.dr_terms(r, matches, propensity, q_plan, q_given), who, level)
    plan_arm, holdout = pairs.filter(pl.col("arm") == "plan"), pairs.filter(pl.col("arm") == "holdout")
    realised = estimates.clustered_mean(column(plan_arm, "net_revenue"), plan_arm.get_column("customer_id").to_numpy(), level)
    status_quo = estimates.clustered_mean(column(holdout, "net_revenue"), holdout.get_column("customer_id").to_numpy(), level)
    expected = estimates.Interval(float(q_plan.mean()) if q_plan.size else float("nan"), *[float("nan")] * 3)
    n, matched = randomised.height, int(matches.sum())
    base = f"{n:,} pairs of plan consumers, {matched:,} given the plan's offer; SE clustered by consumer"
    return [
        _row("plan_value_ips", ips, level, "IPS", n, "pair", f"mean of 1[given = plan] / propensity · net revenue; {base}"),
        _row(
            "plan_value_dr",
            dr,
            level,
            "DR",
            n,
            "pair",
            f"mean of q(plan) + 1[given = plan] / propensity · (net revenue − q(given)), q(o) = p(o) · price · (1 − o/100) "
            f"(expected_revenue_plan, expected_revenue_recommended); {base}",
        ),
        _row("plan_arm_realised_mean", realised, level, "mean", plan_arm.height, "pair", "net revenue per pair of the plan arm"),
        _row("holdout_realised_mean", status_quo, level, "mean", holdout.height, "pair", "net revenue per pair of the holdout"),
        _row("plan_value_expected", expected, level, "model", n, "pair", "mean expected_revenue_plan over the pairs of plan consumers"),
    ]


def by_category(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per arm and category (and category 'all'): pairs, consumers, purchases (pairs bought),
    predicted_purchases (Σ p_recommended), net_revenue (Σ paid), predicted_net_revenue
    (Σ expected_revenue_recommended), retention (share of pairs bought), predicted_retention (mean p_recommended)."""
    aggregates = [
        pl.len().alias("pairs"),
        pl.col("customer_id").n_unique().alias("consumers"),
        pl.col("bought").cast(pl.Int64).sum().alias("purchases"),
        pl.col("p_recommended").sum().alias("predicted_purchases"),
        pl.col("net_revenue").sum(),
        pl.col("expected_revenue_recommended").sum().alias("predicted_net_revenue"),
        pl.col("bought").mean().alias("retention"),
        pl.col("p_recommended").mean().alias("predicted_retention"),
    ]
    per_category = pairs.group_by("arm", "category").agg(aggregates)
    overall = pairs.group_by("arm").agg(aggregates).with_columns(category=pl.lit("all"))
    order = pl.col("arm").replace_strict({a: i for i, a in enumerate(ARMS)}, return_dtype=pl.Int64)
    table = pl.concat([per_category, overall.select(per_category.columns)])
    return table.sort(order, pl.col("category") == "all", "category")


def offer_history(pairs: pl.DataFrame, design: Design) -> pl.DataFrame:
    """The fortnight's given offers in the offer history layout (data/plans.py): item_id, customer_id,
    start_date, end_date, offer_pct, plus arm, propensity (the probability of the given offer given the
    consumer's arm) and expected_offer_pct, the offer's mean under the design given the pair (what the
    offer response subtracts from randomised offers; docs/response.md):

        h · reference + (1 − h) · ((1 − e_c) · plan + e_c · mean(L_c)),

    h the holdout share, e_c the exploration share in the category (0 where it has no levels L_c);
    null when nothing was randomised (h = e = 0)."""
    levels = pl.DataFrame(
        {"category": list(design.levels), "_mean": [float(np.mean(v)) if len(v) else None for v in design.levels.values()]},
        schema={"category": pl.String, "_mean": pl.Float64},
    )
    e = pl.when(pl.col("_mean").is_not_null()).then(design.explore_share).otherwise(0.0)
    explored = (1 - e) * pl.col("plan_offer_pct") + e * pl.col("_mean").fill_null(0.0)
    mean = design.holdout_share * pl.col("reference_offer_pct") + (1 - design.holdout_share) * explored
    randomised = design.holdout_share > 0 or design.explore_share > 0
    return (
        pairs.join(levels, on="category", how="left")
        .select(
            "item_id",
            "customer_id",
            start_date="period_start",
            end_date="period_end",
            offer_pct="recommended_offer_pct",
            arm="arm",
            propensity="propensity",
            **{DESIGN_MEAN: mean if randomised else pl.lit(None, pl.Float64)},
        )
        .sort("customer_id", "item_id")
    )


def measure(
    offers: pl.DataFrame,
    transactions: pl.DataFrame,
    design: Design,
    *,
    level: float,
    bootstrap: int,
    response: pl.DataFrame | None = None,
) -> Measurement:
    """The decided fortnight measured: `offers` the plan with arms (checked by `arm_problem`),
    `transactions` canonical ones covering it and the fortnight before, `design` experiment.json's,
    `response` the estimator's category slopes (response.csv) or None."""
    pairs = pair_outcomes(offers, transactions)
    consumers = consumer_outcomes(pairs)
    rows = difference_rows(consumers, level=level, bootstrap=bootstrap, seed=design.seed) + value_rows(pairs, level=level)
    start, end = offers.get_column("period_start").min(), offers.get_column("period_end").max()
    return Measurement(
        summary=pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row").with_columns(period_start=pl.lit(start), period_end=pl.lit(end)),
        by_category=by_category(pairs),
        slopes=explore_slopes(pairs, response, level=level),
        offer_history=offer_history(pairs, design),
        period_start=start,
        period_end=end,
    )
