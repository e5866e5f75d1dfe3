"""Table 1 of the paper for this data, and a self-contained report.html (figures inlined as PNG)."""

from __future__ import annotations

import base64
import html

import polars as pl


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


def _table_html(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = "".join(
            f"<td>{v:,.3f}</td>" if isinstance(v, float) else "<td>–</td>" if v is None else f"<td>{html.escape(str(v))}</td>" for v in row
        )  # – : not applicable (e.g. a baseline's elasticity)
        body.append(f"<tr>{cells}</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def render(title: str, sections: list[tuple[str, str | pl.DataFrame | bytes]]) -> str:
    """sections: (heading, text | table | PNG bytes); a heading "details:..." folds its content away.
    No external resources: opens offline."""
    parts = []
    for heading, content in sections:
        if isinstance(content, bytes):
            data = base64.b64encode(content).decode()
            body = f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{data}">'
        elif isinstance(content, pl.DataFrame):
            body = _table_html(content)
        else:
            body = f"<p>{html.escape(content)}</p>"
        if heading.startswith("details:"):  # long tables fold away
            parts.append(f"<section><details><summary>{html.escape(heading.removeprefix('details:'))}</summary>{body}</details></section>")
        else:
            parts.append(f"<section><h2>{html.escape(heading)}</h2>{'' if isinstance(content, str) and not content else body}</section>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%}.scroll{overflow-x:auto}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>"
