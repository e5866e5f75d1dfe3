"""The evidence behind the plan, each piece a folded section with a one-line summary of what it shows
(pure, over the backtest's frames): the paper's Table 1, decision rules, model comparisons,
calibration, the offer response and its placebo, cross effects, uplift deciles, the optimiser's
variants and the rules."""

from __future__ import annotations

import polars as pl

from offerwise.report.html import Section, table1
from offerwise.report.policy import JOINT_ORACLES, ORACLES

ORACLE_SCORES = {**ORACLES, **JOINT_ORACLES}
SUMMARY_COLUMNS = (
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


def _mean(frame: pl.DataFrame, column: str) -> float:
    values = frame.get_column(column).cast(pl.Float64).drop_nans().drop_nulls()
    return float(values.mean()) if values.len() else float("nan")


def table1_section(metrics, f1, fits, summary) -> Section:
    t1 = table1(metrics, f1, fits, summary)
    by_model = {m: _mean(t1.filter(pl.col("model") == m), "roc_auc") for m in ("stack", "tcn", "lightgbm")}
    line = "Test BCE, ROC AUC and per-consumer-cut-off F1 per category and model; mean ROC AUC " + ", ".join(
        f"{m} {v:.3f}" for m, v in by_model.items() if v == v
    )
    return Section("Table 1: model results and elasticity", t1, summary=line + ".", folded=True)


def f1_section(f1: pl.DataFrame) -> Section:
    last = f1.filter(pl.col("fold") == f1["fold"].max()) if "fold" in f1.columns else f1
    wide = last.with_columns(column=pl.col("rule").str.replace_all("_", " ") + " · " + pl.col("model")).pivot(
        on="column", index="category", values="f1"
    )
    honest = last.filter(~pl.col("rule").str.starts_with("oracle"))
    best = honest.group_by("rule", "model").agg(pl.col("f1").mean()).sort("f1", descending=True).row(0, named=True)
    return Section(
        "Test F1 of every decision rule",
        wide.select("category", *sorted(c for c in wide.columns if c != "category")),
        summary=f"Best honest rule on average: {best['rule']} · {best['model']} (F1 {best['f1']:.3f}); oracle_test uses the test labels.",
        folded=True,
    )


def differences_section(diff: pl.DataFrame | None) -> list[Section]:
    """model_differences.csv as one compact row per category and comparison: over every backtest
    fold together when there are several (the rows with an empty fold), else the one fold."""
    if diff is None:
        return []
    pooled = diff.filter(pl.col("fold").is_null())
    diff = pooled if pooled.height else diff.filter(pl.col("fold") == diff.get_column("fold").max())
    cell = pl.format("{} [{}, {}] {}", *(pl.col(c).round(4) for c in ("estimate", "low", "high")), pl.col("verdict").fill_null("–"))
    table = (
        diff.with_columns(comparison=pl.col("model_a") + " − " + pl.col("model_b"), cell=cell)
        .pivot(on="metric", index=["category", "comparison"], values="cell")
        .sort("category", "comparison")
    )
    ties = diff.filter((pl.col("low") <= 0) & (pl.col("high") >= 0)).height
    return [
        Section(
            "Model differences on the backtest's fortnights",
            table,
            summary=f"a − b with a 90 % household-bootstrap interval: {ties} of {diff.height} comparisons are ties (the interval covers 0).",
            folded=True,
            note="For BCE lower is better. Every fold together when there are several.",
        )
    ]


def calibration_section(png: bytes, rates: pl.DataFrame) -> Section:
    gap = float((rates.get_column("predicted") - rates.get_column("realised")).abs().mean()) if rates.height else float("nan")
    return Section(
        "Calibration of the decision model",
        png,
        summary=f"Predicted against realised purchase rate by decile (backtest fortnight); mean gap per category {gap:.3f}.",
        folded=True,
    )


def response_sections(response: pl.DataFrame | None, placebo: pl.DataFrame | None) -> list[Section]:
    """The offer response per category with its interval and method, and the placebo beside it."""
    if response is None:
        return []
    table = response.select("category", "slope", "low", "high", "identified", "offer_reliability", "method", "n_rows")
    covered = ""
    if placebo is not None:
        placebo = placebo.select(
            "category", placebo_slope="slope", placebo_low="low", placebo_high="high", placebo_covers_zero="covers_zero"
        )
        table = table.join(placebo, on="category", how="left")
        covered = f"; the placebo covers 0 in {int(placebo.get_column('placebo_covers_zero').sum())} of {placebo.height}"
    unidentified = table.filter(~pl.col("identified")).get_column("category").sort().to_list()
    note = (
        "Logit change per offer point, estimated by double machine learning from the periods up to the cutoff (docs/response.md), "
        "with a 90 % interval. A category is not identified when too little offer variation is left once past demand and promotion "
        "history are accounted for, or when most of what is left is the sampling error of an offer inferred from other buyers' "
        "discounts (offer reliability below 0.5; an identified category's slope is divided by its reliability). Such a category gets "
        "the pooled slope of the identified ones with a wider interval; the optimiser's retention constraint holds over it "
        "(optimize.retention_probability). The placebo re-estimates with offers permuted across periods within item: its interval "
        "should cover 0." + (f" Not identified here: {', '.join(unidentified)}." if unidentified else "")
    )
    line = f"Slope per category with its 90 % interval: {table.height - len(unidentified)} of {table.height} identified{covered}."
    return [Section("Offer response per category (backtest decision)", table, summary=line, folded=True, note=note)]


def cross_sections(cross: pl.DataFrame | None, placebo: pl.DataFrame | None) -> list[Section]:
    """The cross effects per category with their intervals, the placebo beside them."""
    if cross is None:
        return []
    table = cross.select("category", "cross_slope", "low", "high", "identified", "rows_with_other_offers", "method")
    if "others_x_slope" in cross.columns:  # the category's offers' pull on the consumer's other categories (φ_x)
        z = (pl.col("high") - pl.col("cross_slope")) / pl.col("se")  # the table's interval level (response.level)
        half = z * pl.col("others_x_se")
        pull = pl.col("others_x_slope")
        table = table.hstack(cross.select(pull_on_other_categories=pull, pull_low=pull - half, pull_high=pull + half))
    if placebo is not None:
        table = table.join(placebo.select("category", placebo_low="low", placebo_high="high"), on="category", how="left")
    pooled = table.filter(pl.col("category") == "pooled")
    line = "How the other offers a consumer faces move a pair's purchase"
    if pooled.height:
        row = pooled.row(0, named=True)
        line += f": pooled slope {row['cross_slope']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"
    combined = cross.filter(pl.col("category") == "cross-category").select("combined_z") if "combined_z" in cross.columns else None
    if combined is not None and combined.height and combined.item() is not None:
        line += f"; a pull across categories, the evidence of both sides combined: z = {combined.item():+.2f}"
    note = (
        "Logit change per point of the share-weighted offers on the consumer's other items in the category (negative: offers take "
        "sales from each other), estimated by double machine learning beside the own effect, with a 90 % interval; 'pooled' is the "
        "slope over every category, 'cross-category' the pooled effect of the offers in the consumer's other categories. "
        "pull_on_other_categories: how much an offer point on a pair of the category moves the consumer's purchases in their other "
        "categories, on the own slope's scale (φ_x, shrunk toward the pooled one; the plan counts it only where a pull across "
        "categories is found: the cross-category slope's and the pooled φ_x's z-scores combined beyond the interval's level). The "
        "optimiser values each consumer-category's offers with these slopes (docs/optimization.md). The placebo permutes the other "
        "offers across consumers: its interval should cover 0."
    )
    return [Section("Cross effects: offers that compete (backtest decision)", table, summary=line + ".", folded=True, note=note)]


def uplift_section(png: bytes) -> Section:
    note = (
        "The pairs faced the status quo offer, so the realised rate checks the predicted rate at the status quo along the uplift "
        "ranking; the recommended offers never ran, so their predicted rate has no realised counterpart (the holdout and "
        "exploration measure it: offerwise measure). evaluation/uplift_deciles.csv holds the numbers."
    )
    return Section(
        "Predicted offer uplift by decile against realised purchases",
        png,
        summary="Does the model's purchase rate hold where it expects the largest uplift? (backtest fortnight)",
        folded=True,
        note=note,
    )


def paper_figures(pngs: dict[str, bytes]) -> list[Section]:
    names = {
        "figure3_eda": ("Figure 3: exploratory data analysis", "Sales share per category, transactions by offer % and by basket size."),
        "figure4_elasticity": ("Figure 4: purchase probability against offer %", "The paper's fitted sigmoids per category."),
        "figure5_probabilities": ("Figure 5: probabilities and per-consumer cut-offs", "Predicted probabilities by label; F1 cut-offs."),
        "figure6_offers": ("Figure 6: backtest offers per category", "Recommended against reference offers, per category."),
    }
    return [Section(heading, pngs[name], summary=line, folded=True) for name, (heading, line) in names.items()]


def optimiser_section(summary: pl.DataFrame) -> Section:
    table = summary.select([c for c in SUMMARY_COLUMNS if c in summary.columns])
    worst = float(summary.get_column("gap").cast(pl.Float64).max() or 0.0) if "gap" in summary.columns else float("nan")
    keys = [c for c in ("response", "objective_form") if c in summary.columns]
    if keys and summary.select(keys).n_unique() > 1:
        heading, line = "Optimisation of every response × objective variant (backtest, the model's view)", "Each variant's"
    else:  # optimize.compare_variants: the plan's own variant only
        heading, line = "Optimisation (backtest, the model's view)", "Per category, the"
    return Section(
        heading, table, summary=f"{line} expected net revenue and retention; the largest certified gap is {worst:.1e}.", folded=True
    )


def rules_section(per_category: pl.DataFrame) -> Section:
    """Per category: the allowed levels, the share of pairs with no offer, what bound the offers, and
    the expected net revenue with the rules against every level from 0 to the deepest offer run."""
    wanted = ["levels", "no_offer_share", "bound_by_rules_share", "bound_by_retention_share", "expected_revenue_after"]
    table = per_category.select("category", *[c for c in [*wanted, "expected_revenue_without_rules"] if c in per_category.columns])
    line = "The offer levels allowed per category (no offer, and the depths the retailer allows and has run), and what they cost."
    return Section("The retailer's rules", table, summary=line, folded=True)


def policy_section(policy: pl.DataFrame | None) -> list[Section]:
    if policy is None:
        return []
    overall = policy.filter((pl.col("decision") == "forward") & (pl.col("category") == "all") & (pl.col("policy") == "ours"))
    line = "Forward plan, share of the oracles' gain: " + (
        "; ".join(f"{name} {overall.get_column(c).item():.2f}" for name, c in ORACLE_SCORES.items() if c in overall.columns)
        if overall.height
        else "–"
    )
    return [
        Section(
            "Policy score against the simulator's true response",
            policy,
            summary=line + ".",
            folded=True,
            note="Backtest: the last fortnight in the data; forward: the plan. docs/optimization.md says how the oracles are built.",
        )
    ]


def slopes_section(png: bytes) -> Section:
    return Section(
        "Estimated against true offer slopes per pair",
        png,
        summary="Simulated data: each pair's estimated slope against the simulator's true one (forward decision).",
        folded=True,
    )
