"""The report's first screen: four cards that answer what to do, what it is worth, what it costs and
how to check it (pure: from the plan's summary and report/plan.py's totals to markup)."""

from __future__ import annotations

import html

from offerwise.report.html import Markup
from offerwise.report.words import experiment_sentence, status_quo_name


def _card(anchor: str, title: str, big: str, *lines: str) -> str:
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    return f"<div class='card' id='{anchor}'><h2>{html.escape(title)}</h2><p class='big'>{html.escape(big)}</p>{text}</div>"


def _share(change: float, base: float) -> str:
    return f"{change / base:+.1%}" if base else "–"


def worth_lines(t: dict, status_quo: str, level: float) -> tuple[str, str, str]:
    """(headline, revenue line, retention line) of what the plan is worth."""
    before, change = t["revenue_status_quo"], t["change"]
    interval = (
        f"; {level:.0%} interval {t['change_low']:+,.0f} to {t['change_high']:+,.0f} from the offer response's uncertainty"
        if t["interval"]
        else ""
    )
    return (
        f"{_share(change, before)} net revenue",
        f"Expected net revenue {t['revenue_plan']:,.0f} against {before:,.0f} with {status_quo}: {change:+,.0f}{interval}.",
        f"Expected retention (mean purchase probability per pair) {t['retention_plan']:.3f} against {t['retention_status_quo']:.3f}.",
    )


def first_screen(plan: dict, t: dict, *, verdict: str, measured: str | None, level: float, valuation: str = "") -> Markup:
    """The four cards, under one line that says whose numbers they are."""
    status_quo = status_quo_name(plan["planned_share"])
    start, end = f"{plan['period_start']:%d %b %Y}", f"{plan['period_end']:%d %b %Y}"
    experiment = plan.get("experiment")
    do = _card(
        "what-to-do",
        "What to do",
        f"{t['offers']:,} offers to {t['consumers']:,} consumers",
        f"Give the offers in {plan['offers']} (column recommended_offer_pct) from {start} to {end}.",
        f"They cover {t['pairs']:,} consumer-item pairs; {1 - t['offers'] / max(t['pairs'], 1):.0%} of them get no offer.",
        "Column arm says which consumers are held out and which pairs explore." if experiment else "",
    )
    headline, revenue, retention = worth_lines(t, status_quo, level)
    worth = _card("what-it-is-worth", "What it is worth", headline, revenue, retention, valuation)
    spend, spend_before = t["spend_plan"], t["spend_status_quo"]
    given_up = f"The experiment gives up {experiment['given_up_share']:.1%} of the plan's expected net revenue." if experiment else ""
    cost = _card(
        "what-it-costs",
        "What it costs",
        f"{spend:,.0f} discount spend",
        f"Expected discount on the expected purchases: {spend:,.0f} against {spend_before:,.0f} with {status_quo} "
        f"({_share(spend - spend_before, spend_before)}).",
        given_up,
    )
    check_lines = [measured] if measured else []
    check_lines.append(
        experiment_sentence(experiment, with_cost=False) if experiment else "No holdout in this plan (experiment.holdout_share = 0)."
    )
    held_out = experiment["consumers"]["holdout"] if experiment else 0
    big = "Measured" if measured else f"{held_out:,} consumers held out" if held_out else "The backtest only"
    check = _card("how-to-check-it", "How to check it", big, *check_lines, verdict)
    caveat = (
        f"<p class='caveat'>The plan for {html.escape(start)} – {html.escape(end)}. Its worth and cost are the model's expectation "
        f"for a fortnight that has not happened yet, against {html.escape(status_quo)}; the evidence below says how far to trust it.</p>"
    )
    return Markup(f"{caveat}<div class='cards'>{do}{worth}{cost}{check}</div>")
