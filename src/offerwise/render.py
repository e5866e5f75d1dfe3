"""Tables for the terminal: frames rendered for people (rich), the plan's summary."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offerwise.report.words import compared_with, experiment_sentence


def kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def frame_table(frame, title: str, columns: list[str] | dict[str, str] | None = None, digits: int | dict[str, int] = 3) -> Table:
    """A rich table of a frame that fits the terminal: `columns` maps names to short headers, numbers
    are rounded for people (`digits`: decimals, for all columns or per column, 3 where not given),
    '–' marks what does not apply. A number is never folded: on a narrow terminal headers and names wrap at spaces."""
    headers = (
        dict(zip(frame.columns, frame.columns))
        if columns is None
        else columns
        if isinstance(columns, dict)
        else dict(zip(columns, columns))
    )
    headers = {c: h for c, h in headers.items() if c in frame.columns}
    places = {c: digits.get(c, 3) if isinstance(digits, dict) else digits for c in headers}
    rows = [[cell(v, places[c]) for c, v in zip(headers, row)] for row in frame.select(list(headers)).iter_rows()]
    table = Table(title=title, title_justify="left", collapse_padding=True, pad_edge=False)  # 8 columns fit 80 characters
    for i, (col, header) in enumerate(headers.items()):
        text = frame.schema[col] == pl.String
        widest = max((len(row[i]) for row in rows), default=0)
        table.add_column(
            header,
            justify="left" if text else "right",
            overflow="ellipsis" if text else "fold",
            no_wrap=False,
            min_width=max(min(widest, 10), len(header)) if text else widest,  # a name gives way first, never a number
        )
    for row in rows:
        table.add_row(*row)
    return table


def cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


PLAN_HEADERS = {
    "category": "category",
    "pairs": "pairs",
    "planned_offer_mean": "plan %",
    "recommended_offer_mean": "new %",
    "expected_revenue_before": "rev. plan",
    "expected_revenue_after": "rev. new",
    "retention_before": "kept plan",
    "retention_after": "kept new",
}


def print_plan(console: Console, plan: dict) -> None:
    money = ("expected_revenue_before", "expected_revenue_after")
    per_category = plan["per_category"].with_columns(
        *(pl.col(c).round(0).cast(pl.Int64) for c in money), *(pl.col(c).round(1) for c in ("planned_offer_mean", "recommended_offer_mean"))
    )
    console.print(
        frame_table(
            per_category,
            "The plan per category (the model's expectation)",
            PLAN_HEADERS,
            {"planned_offer_mean": 1, "recommended_offer_mean": 1},
        )
    )
    console.print("[dim]% = mean offer; rev. = expected net revenue; kept = expected retention (mean purchase probability)[/dim]")
    console.print(
        f"[bold green]offers for {plan['period_start']:%d %b %Y} – {plan['period_end']:%d %b %Y}[/bold green]: {plan['pairs']:,} consumer-item offers, "
        f"expected net revenue {plan['revenue_change']:+.1%} against {compared_with(plan['planned_share'])}, retention {plan['retention_after']:.3f} "
        f"(status quo {plan['retention_before']:.3f})",
        soft_wrap=True,
    )
    if plan.get("valuation"):
        console.print(f"[dim]{plan['valuation']}[/dim]", soft_wrap=True)
    console.print(
        f"{plan['no_offer_share']:.0%} of the pairs get no offer; with every level from 0 to the deepest offer run allowed "
        f"(no rules) the model expects {plan['revenue_change_without_rules']:+.1%}",
        soft_wrap=True,
    )
    if plan.get("consumer_categories_no_offer") == plan.get("consumer_categories_no_offer"):  # not NaN: an older run folder may lack it
        console.print(
            f"per consumer and category: {plan['consumer_categories_no_offer']:.0%} no offer, {plan['consumer_categories_one_offer']:.0%} one, "
            f"{plan['consumer_categories_several_offers']:.0%} several (the status quo's own offers kept)",
            soft_wrap=True,
        )
    if plan.get("experiment"):
        console.print(experiment_sentence(plan["experiment"]), soft_wrap=True)
    console.print(f"offers: {plan['offers']}", soft_wrap=True)  # one line each: copy-pasteable
    console.print(f"report: {plan['report']}", soft_wrap=True)


def print_measurement(console: Console, result: dict[str, Any]) -> None:
    """`offerwise measure`'s result (pipeline.measure): every estimate, plan − holdout in a sentence, where the files are."""
    summary = result["measurement"].summary
    columns = ["estimate", "value", "low", "high", "method", "n", "unit"]
    console.print(frame_table(summary, f"Measured: the fortnight {result['period_start']} – {result['period_end']}", columns, 3))
    cuped = summary.row(0, named=True)
    if cuped["value"] is not None:
        interval = f"[{cuped['low']:+,.2f}, {cuped['high']:+,.2f}] ({cuped['level']:.0%} interval, CUPED)"
        console.print(f"plan − holdout net revenue per consumer: {cuped['value']:+,.2f} {interval}", highlight=False)
    where = f"{result['folder']} (summary, by_category, slopes, offer_history); the page: {result['report']}"
    console.print(f"files in {escape(where)}", soft_wrap=True, highlight=False)


def print_pooled(console: Console, result: dict[str, Any]) -> None:
    """`offerwise pool`'s result (pipeline.pool): every pooled estimate, plan − holdout in a sentence, where the files are."""
    summary = result["summary"]
    columns = ["estimate", "value", "low", "high", "fortnights", "n", "unit"]
    console.print(frame_table(summary, f"{result['fortnights']} measured fortnights pooled", columns, 3))
    row = {r["estimate"]: r for r in summary.iter_rows(named=True)}
    cuped, expected = row.get("plan_minus_holdout_cuped"), row.get("plan_minus_holdout_expected")
    if cuped is not None and cuped["low"] is not None:
        fortnights = f"{cuped['fortnights']} fortnight{'s' if cuped['fortnights'] != 1 else ''}"
        said = f"plan − holdout net revenue per consumer over {fortnights}: {cuped['value']:+,.2f} "
        said += f"[{cuped['low']:+,.2f}, {cuped['high']:+,.2f}] ({cuped['level']:.0%} interval, CUPED)"
        said += f"; the model expected {expected['value']:+,.2f}" if expected is not None else ""
        console.print(said, highlight=False)
    console.print(f"files in {escape(str(result['folder']))} (summary, by_category, slopes)", soft_wrap=True, highlight=False)


def print_data_summary(console: Console, loaded, summary: dict, categories: pl.DataFrame) -> None:
    """`data summary`: the data's size and dates, the load report and the largest categories."""
    console.print(kv_table(f"Data: {loaded.report.source}", list(summary.items())))
    console.print(kv_table("Load report", loaded.report.as_rows()))
    table = Table(title="Largest categories", title_justify="left")
    for col in categories.columns:
        table.add_column(col, justify="left" if col == "category" else "right")
    for row in categories.iter_rows(named=True):
        table.add_row(row["category"], *(f"{row[c]:.1%}" if c == "offer_share" else f"{row[c]:,.0f}" for c in categories.columns[1:]))
    console.print(table)


def print_played(console: Console, done: dict, out) -> None:
    """`simulate --play`: the round played and where the data one fortnight longer is."""
    console.print(
        f"played round {done['round']} ({done['period_start']} – {done['period_end']}): {done['plan_pairs']:,} plan offers, "
        f"{done['purchases']:,} purchases ({done['plan_purchases']:,} on the plan's pairs), {done['transactions']:,} transactions "
        f"-> {out}; its next fortnight to decide starts {done['next_period_start']}",
        soft_wrap=True,
        highlight=False,
    )
