"""report.html from every stage's frames: the figures (PNG bytes), the tables and the page (pure; the
hub reads the artifacts into ReportInputs and writes what `build_report` returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from offerwise.data.schema import RetailData
from offerwise.report import figures
from offerwise.report.calibration import reliability_figure
from offerwise.report.html import render, table1
from offerwise.report.measurement import figure_measurement, measurement_sections
from offerwise.report.uplift import uplift_deciles, uplift_figure
from offerwise.report.words import compared_with, experiment_sentence

FIGURES = (
    "figure_plan",
    "figure_calibration",
    "figure_slopes",
    "figure_uplift",
    "figure3_eda",
    "figure4_elasticity",
    "figure5_probabilities",
    "figure6_offers",
)
# figure_slopes only on simulated data (it needs the true response); and figure_measurement once `offerwise measure` ran


@dataclass
class ReportInputs:
    """What the report reads: the backtest's evaluation folder (metrics, f1, fits, predictions,
    thresholds, pair_elasticity, model_differences, response, placebo), its offers and optimisation
    summary, the forward plan's offers and summary (pipeline.report.summary), and on simulated data
    the policy scores and the true slopes; once the plan's fortnight is measured, measurement/
    (summary, by_category, slopes)."""

    data: RetailData
    metrics: pl.DataFrame
    f1: pl.DataFrame
    fits: pl.DataFrame
    predictions: pl.DataFrame
    thresholds: pl.DataFrame
    pair_elasticity: pl.DataFrame
    offers: pl.DataFrame  # the backtest's
    summary: pl.DataFrame  # optimization_summary.csv, every variant
    differences: pl.DataFrame | None = None
    response: pl.DataFrame | None = None
    placebo: pl.DataFrame | None = None
    cross: pl.DataFrame | None = None  # cross_response.csv (elasticity/dml/cross.py)
    cross_placebo: pl.DataFrame | None = None
    plan: dict | None = None  # the forward plan's summary (pipeline.report.summary)
    plan_offers: pl.DataFrame | None = None
    policy: pl.DataFrame | None = None
    true_slopes: pl.DataFrame | None = None
    measurement: dict[str, pl.DataFrame] | None = None  # `offerwise measure`: summary, by_category, slopes


@dataclass
class Report:
    html: str
    pngs: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, written as <name>.png
    uplift: pl.DataFrame | None = None  # evaluation/uplift_deciles.csv


def _plan_sections(plan: dict, offers: pl.DataFrame, png: bytes) -> list:
    """The decision first: dates, number of offers, expected effect, per category, and a figure."""
    headline = (
        f"Offers for {plan['period_start']:%d %b %Y} – {plan['period_end']:%d %b %Y}: {plan['pairs']:,} consumer-item offers; "
        f"expected net revenue {plan['revenue_change']:+.1%} against {compared_with(plan['planned_share'])}; expected retention "
        f"{plan['retention_after']:.3f} (status quo {plan['retention_before']:.3f}); {plan['no_offer_share']:.0%} of the pairs get no "
        f"offer; without the offer rules the model would expect {plan['revenue_change_without_rules']:+.1%}. "
        f"The offers are in {plan['offers']}."
    )
    per_category = plan["per_category"].select(
        "category",
        "pairs",
        "planned_offer_mean",
        "recommended_offer_mean",
        "expected_revenue_before",
        "expected_revenue_after",
        "retention_before",
        "retention_after",
    )
    check = [("How to check it", experiment_sentence(plan["experiment"]))] if plan.get("experiment") else []
    return [
        ("The plan", headline),
        *check,
        ("The plan per category (the model's expectation)", per_category),
        ("The retailer's rules: offer levels allowed per category, and what they cost (the model's expectation)", _rules_table(plan)),
        ("Recommended against planned offer depth", png),
    ]


def _measured(measurement: dict[str, pl.DataFrame] | None, pngs: dict[str, bytes]) -> list:
    """The measured fortnight's sections (`offerwise measure`; its own dates: a later plan may have
    replaced the one it measured), adding figure_measurement to `pngs`; none before it ran."""
    if measurement is None:
        return []
    pngs["figure_measurement"] = figure_measurement(measurement["summary"], measurement["slopes"])
    return measurement_sections(measurement, pngs["figure_measurement"])


def _rules_table(plan: dict) -> pl.DataFrame:
    """Per category: the allowed levels, the share of pairs with no offer, what bound the offers, and
    the expected net revenue with the rules against every level from 0 to the deepest offer run."""
    table = plan["per_category"]
    wanted = ["levels", "no_offer_share", "bound_by_rules_share", "bound_by_retention_share", "expected_revenue_after"]
    return table.select("category", *[c for c in [*wanted, "expected_revenue_without_rules"] if c in table.columns])


def build_report(r: ReportInputs, *, title: str) -> Report:
    metrics, f1, fits, summary, offers = r.metrics, r.f1, r.fits, r.summary, r.offers
    pngs = {
        "figure3_eda": figures.figure3_eda(r.data.transactions, r.data.items),
        "figure4_elasticity": figures.figure4_elasticity(r.pair_elasticity, fits),
        "figure5_probabilities": figures.figure5_probabilities(r.predictions, r.thresholds),
        "figure6_offers": figures.figure6_offers(offers),
    }
    labelled = r.predictions.filter(pl.col("label").is_not_null())
    pngs["figure_calibration"] = reliability_figure(labelled, model="stack")
    uplift = _uplift(offers, labelled)
    pngs["figure_uplift"] = uplift_figure(uplift)
    if r.true_slopes is not None:  # simulated data: the estimated offer response against the truth
        pngs["figure_slopes"] = figures.figure_slopes(r.true_slopes)
    if r.plan is not None and r.plan_offers is not None:
        pngs["figure_plan"] = figures.figure_plan(r.plan_offers)
    f1_wide = f1.filter(pl.col("fold") == f1["fold"].max()) if "fold" in f1.columns else f1
    f1_wide = f1_wide.with_columns(column=pl.col("rule") + " · " + pl.col("model")).pivot(on="column", index="category", values="f1")
    keep = [
        c
        for c in (
            "category",
            "response",
            "objective_form",
            "status",
            "retention_before",
            "retention_after",
            "expected_revenue_before",
            "expected_revenue_after",
            "weighted_offer_pct_after",
            "gap",
            "solver",
            "seconds",
        )
        if c in summary.columns
    ]
    sections: list = _plan_sections(r.plan, r.plan_offers, pngs["figure_plan"]) if "figure_plan" in pngs else []
    sections += _measured(r.measurement, pngs)  # how the plan did, right below it
    policy = r.policy
    if policy is not None:
        sections.append(
            ("Policy score against the simulator's true response (backtest: the last fortnight in the data; forward: the plan)", policy)
        )
    sections.append(("The backtest: the same decision one fortnight earlier, scored against what happened", ""))
    sections += [
        ("Table 1: model results and elasticity", table1(metrics, f1, fits, summary)),
        (
            "Test F1 of every decision rule (oracle_test chooses cut-offs on the test labels: not a real result)",
            f1_wide.select("category", *sorted(c for c in f1_wide.columns if c != "category")),
        ),
        (
            "Model differences on the backtest's fortnights (every fold together when there are several): a − b with a 90 % "
            "household-bootstrap interval (tie: the interval covers 0; for BCE lower is better)",
            _differences(r.differences),
        ),
        (
            "Calibration: predicted against realised purchase rate by decile of the stack's probability (backtest fortnight)",
            pngs["figure_calibration"],
        ),
        *_response_sections(r.response, r.placebo),
        *_cross_sections(r.cross, r.cross_placebo),
        (
            "Predicted offer uplift by decile against realised purchases (backtest fortnight; evaluation/uplift_deciles.csv). The pairs "
            "faced the status quo offer, so the realised rate checks the predicted rate at the status quo along the uplift ranking; the "
            "recommended offers never ran, so their predicted rate has no realised counterpart (that needs randomised offers).",
            pngs["figure_uplift"],
        ),
        *(
            [("Estimated against true offer slopes per pair (simulated data, forward decision)", pngs["figure_slopes"])]
            if "figure_slopes" in pngs
            else []
        ),
        ("Figure 3: exploratory data analysis", pngs["figure3_eda"]),
        ("Figure 4: purchase probability against offer %, fitted sigmoids", pngs["figure4_elasticity"]),
        ("Figure 5: probability distributions and per-consumer cut-offs", pngs["figure5_probabilities"]),
        ("Figure 6: recommended offers per category", pngs["figure6_offers"]),
        ("details:Optimisation summary of every response x objective variant (the model's view)", summary.select(keep)),
    ]
    return Report(render(title, sections), pngs, uplift)


def _differences(diff: pl.DataFrame | None) -> pl.DataFrame:
    """model_differences.csv as one compact row per category and comparison: over every backtest
    fold together when there are several (the rows with an empty fold), else the one fold."""
    if diff is None:
        return pl.DataFrame()
    pooled = diff.filter(pl.col("fold").is_null())
    diff = pooled if pooled.height else diff.filter(pl.col("fold") == diff.get_column("fold").max())
    cell = pl.format("{} [{}, {}] {}", *(pl.col(c).round(4) for c in ("estimate", "low", "high")), pl.col("verdict").fill_null("–"))
    return (
        diff.with_columns(comparison=pl.col("model_a") + " − " + pl.col("model_b"), cell=cell)
        .pivot(on="metric", index=["category", "comparison"], values="cell")
        .sort("category", "comparison")
    )


def _uplift(offers: pl.DataFrame, labelled: pl.DataFrame) -> pl.DataFrame:
    """uplift_deciles of the backtest's offers against the labels of its decided fortnight: the test
    split of the last fold with labels (the forward fold has none)."""
    test = labelled.filter(pl.col("split") == "test")
    test = test.filter(pl.col("fold") == test.get_column("fold").max()) if "fold" in test.columns else test
    labels = test.unique(["customer_id", "item_id"], keep="first", maintain_order=True).select("customer_id", "item_id", "label")
    return uplift_deciles(offers, labels.cast({k: offers.schema[k] for k in ("customer_id", "item_id")}))


def _response_sections(response: pl.DataFrame | None, placebo: pl.DataFrame | None) -> list:
    """The offer response per category with its interval and method, and the placebo beside it."""
    if response is None:
        return []
    response = response.select("category", "slope", "low", "high", "identified", "offer_reliability", "method", "n_rows")
    if placebo is not None:
        placebo = placebo.select(
            "category", placebo_slope="slope", placebo_low="low", placebo_high="high", placebo_covers_zero="covers_zero"
        )
        response = response.join(placebo, on="category", how="left")
    unidentified = response.filter(~pl.col("identified")).get_column("category").sort().to_list()
    where = (
        f"Here the data cannot identify the effect in {len(unidentified)} of {response.height} categories ({', '.join(unidentified)}): "
        if unidentified
        else "Here every category is identified. Where one is not, "
    )
    note = (
        "Logit change per offer point, estimated by double machine learning from the periods up to the cutoff (docs/response.md), "
        "with a 90 % interval. "
        + where
        + "too little offer variation is left once past demand and promotion history are accounted for, or most of what is left "
        "is the sampling error of an offer inferred from other buyers' discounts (offer_reliability below 0.5; an identified "
        "category's slope is divided by its reliability, which undoes the flattening that error causes; see method). Such a "
        "category gets the pooled slope of the identified ones with a wider interval (their spread added); the optimiser uses that "
        "slope, and its retention constraint holds over the wider interval (optimize.retention_probability), so it discounts there "
        "more cautiously when retention binds. The placebo re-estimates with offers permuted across periods within item: its "
        "interval should cover 0."
    )
    return [
        ("Offer response per category (backtest decision)", note),
        ("Offer response: slope, 90 % interval, identification, placebo", response),
    ]


def _cross_sections(cross: pl.DataFrame | None, placebo: pl.DataFrame | None) -> list:
    """The cross effects per category with their intervals, the placebo beside them."""
    if cross is None:
        return []
    table = cross.select("category", "cross_slope", "low", "high", "identified", "rows_with_other_offers", "method")
    if placebo is not None:
        table = table.join(placebo.select("category", placebo_low="low", placebo_high="high"), on="category", how="left")
    note = (
        "How the other offers a consumer faces move a pair's purchase: the logit change per point of the share-weighted offers on the "
        "consumer's other items in the category (negative: offers take sales from each other), estimated by double machine learning "
        "beside the own effect, with a 90 % interval; 'pooled' is the slope over every category, 'cross-category' the pooled effect of "
        "the offers in the consumer's other categories. The optimiser values each consumer-category's offers with these slopes "
        "(docs/optimization.md). The placebo permutes the other offers across consumers: its interval should cover 0."
    )
    return [("Cross effects: offers that compete (backtest decision)", note), ("Cross effects: slope, 90 % interval, placebo", table)]
