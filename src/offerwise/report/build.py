"""report.html from every stage's frames: the figures (PNG bytes), the tables and the page (pure; the
hub reads the artifacts into ReportInputs and writes what `build_report` returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from offerwise.data.schema import RetailData
from offerwise.report import evidence, figures
from offerwise.report.calibration import reliability_figure
from offerwise.report.first_screen import first_screen
from offerwise.report.html import Section, render
from offerwise.report.measurement import figure_measurement, headline, measurement_sections
from offerwise.report.plan import backtest_rates, backtest_verdict, totals, with_response_range, worth_by_category
from offerwise.report.plan_figures import figure_backtest, figure_plan, figure_worth
from offerwise.report.uplift import uplift_deciles, uplift_figure
from offerwise.report.words import status_quo_name, valuation_sentence

FIGURES = (
    "figure_plan",
    "figure_worth",
    "figure_backtest",
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
    plan_pairs: pl.DataFrame | None = None  # the forward plan's pair_elasticity: its double-ML slopes give the worth's interval
    policy: pl.DataFrame | None = None
    true_slopes: pl.DataFrame | None = None
    measurement: dict[str, pl.DataFrame] | None = None  # `offerwise measure`: summary, by_category, slopes


@dataclass
class Report:
    html: str
    pngs: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, written as <name>.png
    uplift: pl.DataFrame | None = None  # evaluation/uplift_deciles.csv
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)  # heading -> the table the page shows
    numbers: dict = field(default_factory=dict)  # the first screen's totals (report/plan.py)


@dataclass(frozen=True)
class ReportSettings:
    """What the report needs of the config: whose probabilities decide, and the worth's interval."""

    model: str = "stack"  # model.decision_model
    response_kind: str = "dml"  # optimize.response: the interval needs the double-ML slopes
    quantile: float = 0.5  # optimize.response_quantile
    caution: str = "slope"  # optimize.response_caution
    level: float = 0.90  # response.level


PLAN_TABLE = {  # the plan per category: report/plan.worth_by_category's columns, in words with units
    "category": "Category",
    "pairs": "Pairs",
    "offers": "Offers",
    "offer_status_quo": "Mean offer, status quo (%)",
    "offer_plan": "Mean offer, plan (%)",
    "revenue_status_quo": "Net revenue, status quo",
    "revenue_plan": "Net revenue, plan",
    "change": "Change",
    "retention_status_quo": "Retention, status quo",
    "retention_plan": "Retention, plan",
    "spend_status_quo": "Discount spend, status quo",
    "spend_plan": "Discount spend, plan",
}


def _plan_table(by_category: pl.DataFrame, level: float) -> pl.DataFrame:
    """The plan per category, in words with units."""
    interval = (
        [
            pl.format("{} to {}", *(pl.col(c).round(0).cast(pl.Int64) for c in ("change_low", "change_high"))).alias(
                f"Change, {level:.0%} interval"
            )
        ]
        if "change_low" in by_category.columns
        else []
    )
    words = [pl.col(column).alias(header) for column, header in PLAN_TABLE.items()]
    at = list(PLAN_TABLE).index("change") + 1
    return by_category.select(*words[:at], *interval, *words[at:])


def _plan_sections(r: ReportInputs, s: ReportSettings, pngs: dict[str, bytes], rates: pl.DataFrame) -> tuple[list, dict]:
    """The first screen (what to do, worth, cost, how to check), the plan's pictures, its table."""
    plan, offers = r.plan, r.plan_offers
    if s.response_kind == "dml" and r.plan_pairs is not None:
        offers = with_response_range(offers, r.plan_pairs, quantile=s.quantile, level=s.level, caution=s.caution)
    by_category = worth_by_category(offers)
    numbers = totals(by_category, offers)
    status_quo = status_quo_name(plan["planned_share"])
    pngs["figure_worth"] = figure_worth(by_category, "status quo")
    pngs["figure_plan"] = figure_plan(offers, "status quo")
    measured = headline(r.measurement["summary"]) if r.measurement is not None else None
    valuation = valuation_sentence(s.response_kind, s.quantile, s.caution)
    screen = first_screen(plan, numbers, verdict=backtest_verdict(rates), measured=measured, level=s.level, valuation=valuation)
    note = (
        f"Status quo: {status_quo}. Net revenue: expected purchases × price × (1 − offer); discount spend: expected purchases × "
        "price × offer; retention: the mean purchase probability per pair. All are the model's expectation."
    )
    return [
        Section("", screen),
        Section("What the plan is worth per category", pngs["figure_worth"]),
        Section("Offers, and how well the model predicted the last fortnight", [pngs["figure_plan"], pngs["figure_backtest"]]),
        Section("The plan per category", _plan_table(by_category, s.level), note=note),
    ], numbers


def _measured(measurement: dict[str, pl.DataFrame] | None, pngs: dict[str, bytes]) -> list:
    """The measured fortnight's sections (`offerwise measure`; its own dates: a later plan may have
    replaced the one it measured), adding figure_measurement to `pngs`; none before it ran."""
    if measurement is None:
        return []
    pngs["figure_measurement"] = figure_measurement(measurement["summary"], measurement["slopes"])
    return measurement_sections(measurement, pngs["figure_measurement"])


def build_report(r: ReportInputs, *, title: str, settings: ReportSettings | None = None) -> Report:
    """The page: the plan's first screen and pictures, the measurement once it ran, then the evidence folded."""
    s = settings or ReportSettings()
    pngs = {
        "figure3_eda": figures.figure3_eda(r.data.transactions, r.data.items),
        "figure4_elasticity": figures.figure4_elasticity(r.pair_elasticity, r.fits),
        "figure5_probabilities": figures.figure5_probabilities(r.predictions, r.thresholds),
        "figure6_offers": figures.figure6_offers(r.offers),
    }
    labelled = r.predictions.filter(pl.col("label").is_not_null())
    rates = backtest_rates(r.predictions, s.model)
    pngs["figure_backtest"] = figure_backtest(rates)
    pngs["figure_calibration"] = reliability_figure(labelled, model="stack")
    uplift = _uplift(r.offers, labelled)
    pngs["figure_uplift"] = uplift_figure(uplift)
    sections, numbers = _plan_sections(r, s, pngs, rates) if r.plan is not None and r.plan_offers is not None else ([], {})
    if not sections:  # no forward plan: the backtest's verdict leads
        sections = [
            Section("The backtest", backtest_verdict(rates)),
            Section("Backtest: predicted against realised", pngs["figure_backtest"]),
        ]
    sections += _measured(r.measurement, pngs)  # how the plan did, right below it
    if r.true_slopes is not None:  # simulated data: the estimated offer response against the truth
        pngs["figure_slopes"] = figures.figure_slopes(r.true_slopes)
    sections.append(Section("The evidence (each line opens)"))
    sections += [
        *evidence.policy_section(r.policy),
        *([evidence.rules_section(r.plan["per_category"])] if r.plan is not None else []),
        evidence.table1_section(r.metrics, r.f1, r.fits, r.summary),
        evidence.f1_section(r.f1),
        *evidence.differences_section(r.differences),
        evidence.calibration_section(pngs["figure_calibration"], rates),
        *evidence.response_sections(r.response, r.placebo),
        *evidence.cross_sections(r.cross, r.cross_placebo),
        evidence.uplift_section(pngs["figure_uplift"]),
        *([evidence.slopes_section(pngs["figure_slopes"])] if "figure_slopes" in pngs else []),
        *evidence.paper_figures(pngs),
        evidence.optimiser_section(r.summary),
    ]
    tables = {x.heading: x.content for x in sections if isinstance(x, Section) and isinstance(x.content, pl.DataFrame)}
    return Report(render(title, sections), pngs, uplift, tables, numbers)


def _uplift(offers: pl.DataFrame, labelled: pl.DataFrame) -> pl.DataFrame:
    """uplift_deciles of the backtest's offers against the labels of its decided fortnight: the test
    split of the last fold with labels (the forward fold has none)."""
    test = labelled.filter(pl.col("split") == "test")
    test = test.filter(pl.col("fold") == test.get_column("fold").max()) if "fold" in test.columns else test
    labels = test.unique(["customer_id", "item_id"], keep="first", maintain_order=True).select("customer_id", "item_id", "label")
    return uplift_deciles(offers, labels.cast({k: offers.schema[k] for k in ("customer_id", "item_id")}))
