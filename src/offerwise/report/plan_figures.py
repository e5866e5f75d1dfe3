"""The pictures that come before the tables: what the plan is worth per category, how its offers
differ from the status quo's, and how well the backtest's predicted purchase rates held."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from offerwise.report.figures import _png  # noqa: E402
from offerwise.report.plan import plan_columns  # noqa: E402

PLAN, STATUS_QUO = "#4C72B0", "#8C8C8C"
STEP = 5.0  # offer levels are shown on the 5-point grid the retailers' levels use


def figure_worth(by_category: pl.DataFrame, status_quo: str) -> bytes:
    """Per category: the change in expected net revenue (with its interval where there is one), and
    retention with the plan beside the status quo."""
    rows = by_category.sort("revenue_status_quo")
    names = rows.get_column("category").to_list()
    y = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, max(2.4, 0.9 + 0.18 * len(names))), sharey=True, layout="constrained")
    change = rows.get_column("change").to_numpy()
    left.barh(y, change, color=np.where(change >= 0, PLAN, "#C44E52"), height=0.6)
    if "change_low" in rows.columns:
        low, high = rows.get_column("change_low").to_numpy(), rows.get_column("change_high").to_numpy()
        left.errorbar(
            change, y, xerr=[np.maximum(change - low, 0), np.maximum(high - change, 0)], fmt="none", color="black", capsize=2, lw=0.8
        )
    left.axvline(0, color="black", lw=0.6)
    left.set_yticks(y, names, fontsize=8)
    left.set_xlabel("change in expected net revenue, plan − status quo")
    left.set_title("What the plan is worth per category (the model's expectation)", fontsize=9)
    for column, colour, label in (("retention_status_quo", STATUS_QUO, status_quo), ("retention_plan", PLAN, "plan")):
        right.scatter(rows.get_column(column).to_numpy(), y, color=colour, s=18, label=label, zorder=3)
    right.set_xlabel("expected retention (mean purchase probability per pair)")
    right.set_title("Retention per category", fontsize=9)
    right.legend(fontsize=7, loc="lower right")
    return _png(fig)


def figure_plan(offers: pl.DataFrame, status_quo: str = "status quo") -> bytes:
    """The distribution of the plan's offers against the status quo's: the share of pairs at each
    level, every category together (status quo offers rounded to the nearest level)."""
    offer, _ = plan_columns(offers)
    shares = {}
    for column in ("reference_offer_pct", offer):
        level = (offers.get_column(column) / STEP).round(0) * STEP
        shares[column] = level.value_counts(normalize=True, name="share").sort(column)
    levels = np.union1d(*(s.get_column(c).to_numpy() for c, s in shares.items()))
    fig, ax = plt.subplots(figsize=(5.6, 2.8), layout="constrained")
    width = STEP * 0.4
    for shift, (column, colour, label) in zip(
        (-width / 2, width / 2), ((("reference_offer_pct", STATUS_QUO, status_quo)), (offer, PLAN, "plan"))
    ):
        frame = shares[column]
        by_level = dict(zip(frame.get_column(column).to_list(), frame.get_column("share").to_list()))
        ax.bar(levels + shift, [100 * by_level.get(v, 0.0) for v in levels], width=width, color=colour, label=label)
    ax.set_xlabel("offer (%)")
    ax.set_ylabel("share of consumer-item pairs (%)")
    ax.set_title("Offers: the plan against the status quo", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def figure_backtest(rates: pl.DataFrame) -> bytes:
    """The backtest in one picture: per category, the predicted against the realised purchase rate of
    its decided fortnight (marker area: pairs), with the line where they agree."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8), layout="constrained")
    predicted, realised = rates.get_column("predicted").to_numpy(), rates.get_column("realised").to_numpy()
    size = 12 + 180 * rates.get_column("pairs").to_numpy() / max(float(rates.get_column("pairs").max() or 1), 1.0)
    ax.scatter(realised, predicted, s=size, alpha=0.6, color=PLAN)
    top = float(max(predicted.max(initial=0.0), realised.max(initial=0.0))) * 1.08 or 1.0
    ax.plot([0, top], [0, top], color="black", lw=0.8, ls="--", label="predicted = realised")
    for name, x, yv in zip(rates.head(6).get_column("category"), realised, predicted):  # the largest categories by name
        ax.annotate(name.title(), (x, yv), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("realised purchase rate")
    ax.set_ylabel("predicted purchase rate")
    ax.set_title("Backtest: predicted against realised, per category", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)
