"""The measurement of a planned fortnight in the report (pure): a figure of plan − holdout, the plan's
value and the explore slopes with their intervals beside what the model expected, and the tables of
`offerwise measure` (measurement/summary.csv, by_category.csv, slopes.csv)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from offerwise.report.figures import _png  # noqa: E402
from offerwise.report.html import Section, render  # noqa: E402

DIFFERENCES = {"plan_minus_holdout_cuped": "CUPED", "plan_minus_holdout_bootstrap": "bootstrap", "plan_minus_holdout_plain": "plain"}
VALUES = {
    "plan_value_ips": "IPS",
    "plan_value_dr": "DR",
    "plan_arm_realised_mean": "plan arm",
    "holdout_realised_mean": "holdout (status quo)",
}
MEASURED, EXPECTED, ESTIMATOR = "#4C72B0", "#DD8452", "#8C8C8C"


def _estimates(ax, summary: pl.DataFrame, names: dict[str, str], expected: str, title: str) -> None:
    """Measured estimates with their intervals (one row each) and the model's expectation as a line."""
    rows = summary.filter(pl.col("estimate").is_in(list(names)) & pl.col("value").is_not_null())
    labels = [names[e] for e in rows.get_column("estimate")]
    y = np.arange(len(labels))[::-1]
    value, low, high = (rows.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in ("value", "low", "high"))
    ax.errorbar(value, y, xerr=[value - low, high - value], fmt="o", color=MEASURED, capsize=3, label="measured")
    model = summary.filter(pl.col("estimate") == expected).get_column("value")
    if model.len() and model.item() is not None:
        ax.axvline(model.item(), color=EXPECTED, ls="--", label=f"model expected {model.item():.2f}")
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, labels)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def _slopes(ax, slopes: pl.DataFrame) -> None:
    """Per category the explore arm's slope and the estimator's, each with its interval."""
    categories = slopes.get_column("category").to_list()
    y = np.arange(len(categories))[::-1]
    for shift, prefix, colour, label in ((0.15, "", MEASURED, "explore arm"), (-0.15, "estimator_", ESTIMATOR, "estimator")):
        value, low, high = (
            slopes.get_column(prefix + c).cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in ("slope", "low", "high")
        )
        ax.errorbar(value, y + shift, xerr=[value - low, high - value], fmt="o", color=colour, capsize=3, label=label)
    for yi, identified in zip(y, slopes.get_column("identified")):
        if not identified:
            ax.annotate("explore: not identified", (0, yi + 0.15), fontsize=7, color=MEASURED)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, categories)
    ax.set_xlabel("logit change per offer point")
    ax.set_title("Offer slope per category", fontsize=9)
    ax.legend(fontsize=7)


def figure_measurement(summary: pl.DataFrame, slopes: pl.DataFrame) -> bytes:
    """Plan − holdout per consumer, the plan's value per pair, and the offer slopes, each beside the model."""
    fig, axes = plt.subplots(1, 3, figsize=(15, max(3.0, 0.45 * slopes.height + 1.5)), layout="constrained")
    _estimates(axes[0], summary, DIFFERENCES, "plan_minus_holdout_expected", "Plan − holdout net revenue per consumer")
    axes[0].set_xlabel("net revenue per consumer")
    _estimates(axes[1], summary, VALUES, "plan_value_expected", "The plan's value per pair")
    axes[1].set_xlabel("net revenue per pair")
    _slopes(axes[2], slopes)
    return _png(fig)


def headline(summary: pl.DataFrame) -> str:
    """One sentence: the fortnight measured, plan − holdout with its interval against the model's expectation."""
    row = {r["estimate"]: r for r in summary.iter_rows(named=True)}
    start, end = summary.get_column("period_start").min(), summary.get_column("period_end").max()
    cuped, expected = row.get("plan_minus_holdout_cuped"), row.get("plan_minus_holdout_expected")
    expectation = f"; the model expected {expected['value']:+,.2f}" if expected and expected["value"] is not None else ""
    if cuped is None or cuped["value"] is None:
        return f"The fortnight {start} – {end} had no holdout: plan − holdout cannot be measured{expectation}."
    return (
        f"The fortnight {start} – {end}: plan − holdout net revenue per consumer {cuped['value']:+,.2f} "
        f"[{cuped['low']:+,.2f}, {cuped['high']:+,.2f}] ({cuped['level']:.0%} interval, CUPED){expectation}."
    )


def measurement_sections(measured: dict[str, pl.DataFrame], png: bytes) -> list:
    """The report's sections for `measured` (summary, by_category, slopes frames) and its figure."""
    note = (
        "Holdout consumers kept the status quo offers; the plan's consumers got the plan, a random share of their pairs a random "
        "allowed level (explore). Plan − holdout compares the two groups' net revenue on the plan's pairs per consumer; the plan's "
        "value per pair is estimated from the randomised pairs by inverse propensity (IPS) and doubly robust (DR) weighting; the "
        "slopes are the explore arm's logistic regression on the offer moved, beside the estimator's. Dashed: the model's expectation."
    )
    return [
        Section("How the plan did: the measured fortnight", headline(measured["summary"]), note=note),
        Section("Measured against expected (intervals at the experiment's level)", png),
        Section(
            "Measurement: every estimate",
            measured["summary"].drop("period_start", "period_end"),
            folded=True,
            summary="Plan − holdout (CUPED, bootstrap, plain), the plan's value (IPS, DR) and the arms' realised means, with intervals.",
        ),
        Section(
            "Explore slopes against the estimator's",
            measured["slopes"].drop("level"),
            folded=True,
            summary="Per category: the randomised offers' slope beside the double-ML estimate, each with its interval.",
        ),
        Section(
            "Realised against predicted per arm and category",
            measured["by_category"],
            folded=True,
            summary="Purchases, net revenue and retention per arm and category, realised beside predicted.",
        ),
    ]


def measurement_page(measured: dict[str, pl.DataFrame], *, title: str) -> tuple[str, bytes]:
    """measurement/report.html (self-contained) and its figure's PNG."""
    png = figure_measurement(measured["summary"], measured["slopes"])
    return render(title, measurement_sections(measured, png)), png
