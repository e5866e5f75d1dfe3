"""Table 1 of the paper for this data, and a self-contained report.html (figures inlined as PNG).

A page is a list of Sections: the first screen (raw markup), pictures, tables with headers in words,
and evidence folded into <details> with a one-line summary. It opens offline, fits a phone (wide
tables scroll inside their own box) and prints with every fold open."""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from offerwise.report.words import WORDS

LONG_TEXT = 40  # characters: a longer cell becomes a numbered note under its table
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


class Markup(str):
    """Markup already escaped and assembled (the first screen's cards)."""


Content = str | Markup | pl.DataFrame | bytes | Sequence[bytes]


@dataclass(frozen=True)
class Section:
    heading: str
    content: Content = ""
    summary: str = ""  # with folded: the one line beside the heading that says what the fold holds
    folded: bool = False
    note: str = ""  # words under the content (what a table's columns mean, caveats)


def table1(
    metrics: pl.DataFrame,
    f1: pl.DataFrame,
    fits: pl.DataFrame,
    summary: pl.DataFrame,
    *,
    response: str | None = None,
    objective: str | None = None,
) -> pl.DataFrame:
    """Per category and model: sample size, test BCE, precision / recall / F1 (per-consumer cut-offs
    fitted on validation), average elasticity and weighted offer % after optimisation (TCN rows; of
    the `response` x `objective` variant that wrote offers.csv when given)."""
    test = metrics.filter(pl.col("split") == "test")
    if "fold" in test.columns:
        test = test.filter(pl.col("fold") == test["fold"].max())
    rule = f1.filter(pl.col("rule") == "consumer_cutoff").select("category", "model", "precision", "recall", "f1")
    if "fold" in f1.columns:
        rule = f1.filter((pl.col("rule") == "consumer_cutoff") & (pl.col("fold") == f1["fold"].max())).select(
            "category", "model", "precision", "recall", "f1"
        )
    paper = fits.filter(pl.col("source") == "model_at_historical_offers").select(
        "category", avg_elasticity="avg_elasticity", model=pl.lit("tcn")
    )
    ok = summary.filter(pl.col("status") == "ok")
    if response is not None and "response" in ok.columns:
        ok = ok.filter((pl.col("response") == response) & (pl.col("objective_form") == objective))
    if "response" in ok.columns:
        ok = ok.unique(["category"], keep="first", maintain_order=True)
    offers = ok.select("category", weighted_offer_pct="weighted_offer_pct_after", model=pl.lit("tcn"))
    return (
        test.select(
            "category",
            "model",
            sample_size="rows",
            bce="bce",
            *[c for c in ("bce_low", "bce_high") if c in test.columns],
            roc_auc="roc_auc",
        )
        .join(rule, on=["category", "model"], how="left")
        .join(paper, on=["category", "model"], how="left")
        .join(offers, on=["category", "model"], how="left")
        .sort(["sample_size", "category", "model"], descending=[True, False, False])
    )


def header(column: str) -> str:
    """A column name as words: headers already in words stay, known names get their words (report/words.py),
    any other snake_case name loses its underscores."""
    if column in WORDS:
        return WORDS[column]
    if not SNAKE.match(column):
        return column[0].upper() + column[1:] if column.islower() else column
    words = column.replace("_", " ")
    return words[0].upper() + words[1:]


def _decimals(values: pl.Series) -> int:
    """One rounding per column, for reading: fewer decimals the larger the column's numbers."""
    finite = values.cast(pl.Float64).filter(values.cast(pl.Float64).is_finite()).abs()
    top = float(finite.max()) if finite.len() else 0.0
    return 0 if top >= 1000 else 1 if top >= 100 else 2 if top >= 1 else 3 if top >= 0.1 else 4


def _cell(value, decimals: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"  # not applicable or not estimated (e.g. a baseline's elasticity)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, decimals) + 0.0:,.{decimals}f}"  # + 0.0: a value that rounds to zero reads 0, not -0
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _table_html(frame: pl.DataFrame) -> str:
    """The table in a box that scrolls on its own; text longer than LONG_TEXT moves to numbered notes."""
    decimals = {c: _decimals(frame.get_column(c)) for c, t in frame.schema.items() if t.is_numeric()}
    notes: list[str] = []
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            if isinstance(value, str) and len(value) > LONG_TEXT:
                if value not in notes:
                    notes.append(value)
                cells.append(f"<td>note {notes.index(value) + 1}</td>")
            else:
                cells.append(f"<td>{_cell(value, decimals.get(column, 0))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{html.escape(header(c))}</th>" for c in frame.columns)
    listed = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>" + (
        f"<ol class='notes'>{listed}</ol>" if notes else ""
    )


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _body(section: Section) -> str:
    content = section.content
    if isinstance(content, Markup):
        body = str(content)
    elif isinstance(content, bytes):
        body = _image(content, section.heading)
    elif isinstance(content, pl.DataFrame):
        body = _table_html(content)
    elif isinstance(content, str):
        body = f"<p>{html.escape(content)}</p>" if content else ""
    else:  # pictures side by side
        body = "<div class='row'>" + "".join(f"<div>{_image(png, section.heading)}</div>" for png in content) + "</div>"
    return body + (f"<p class='note'>{html.escape(section.note)}</p>" if section.note else "")


def _section(section: Section) -> str:
    body = _body(section)
    if section.folded:
        summary = f" <span class='line'>{html.escape(section.summary)}</span>" if section.summary else ""
        return f"<details><summary><b>{html.escape(section.heading)}</b>{summary}</summary>{body}</details>"
    heading = f"<h2>{html.escape(section.heading)}</h2>" if section.heading else ""
    return f"<section>{heading}{body}</section>"


STYLE = (
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,sans-serif;margin:0 auto;padding:1em 1.2em;max-width:1280px;color:#222;line-height:1.4}"
    "h1{font-size:1.4em;margin:.2em 0 .4em}h2{font-size:1.1em;margin:1.1em 0 .4em}"
    "p,li,summary{overflow-wrap:anywhere}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3;vertical-align:bottom}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;height:auto}.scroll{overflow-x:auto;max-width:100%}"
    ".row{display:flex;flex-wrap:wrap;gap:1em}.row>div{flex:1 1 420px;min-width:0}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:.8em}"
    ".card{border:1px solid #ccd;border-radius:6px;padding:.6em .9em;background:#fafbff}"
    ".card h2{margin:0 0 .2em;font-size:1em;color:#334}.card .big{font-size:1.5em;font-weight:600;margin:0}"
    ".card p{margin:.25em 0;font-size:14px}.caveat{color:#555;font-size:13px}"
    ".note,.notes{color:#555;font-size:13px}"
    "details{border-top:1px solid #ddd;padding:.35em 0}summary{cursor:pointer}.line{color:#555;font-size:14px}"
    "details[open]>summary{margin-bottom:.5em}"
    "@media print{body{max-width:none;padding:0;font-size:11px}.scroll{overflow:visible}"
    "img,table,.card{break-inside:avoid}summary{list-style:none}}"
)
# Printing opens every fold: the evidence belongs on paper too. Inline, so the page stays offline.
PRINT_OPENS_FOLDS = "window.addEventListener('beforeprint',()=>document.querySelectorAll('details').forEach(d=>d.open=true));"


def render(title: str, sections: list[Section]) -> str:
    """The page of `sections`. No external resources: opens offline."""
    parts = [_section(section) for section in sections]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{PRINT_OPENS_FOLDS}</script></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>"
    )
