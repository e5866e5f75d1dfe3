"""The report stage's runner: the plan's summary, policy scores against a simulator's truth, report.html."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from offerwise import io
from offerwise.columns import PAIR
from offerwise.config import Config
from offerwise.data.load import load_data
from offerwise.data.simulate_frames import choice_world
from offerwise.pipeline.folders import EXPERIMENT, period_dates, read_levels, read_prepared, resume_hint
from offerwise.pipeline.measure import read_measurement
from offerwise.report.build import Report, ReportInputs, ReportSettings, build_report
from offerwise.report.html import table1
from offerwise.report.plan import plan_columns
from offerwise.report.policy import score_against_truth
from offerwise.report.words import valuation_sentence


def summary(out: Path, cfg: Config | None = None) -> dict[str, Any]:
    """What a person wants first: where the plan is, for which dates, and its expected effect (with `cfg`,
    also how the optimiser valued it: report.words.valuation_sentence)."""
    rerun_hint = resume_hint(out)
    plan = io.read_parquet(out / "recommendations" / "offers.parquet", rerun=rerun_hint, require=["period_start", "period_end"])
    numbers = ["pairs", "expected_revenue_before", "expected_revenue_after", "retention_before", "retention_after"]
    per_category = io.read_csv(out / "recommendations" / "summary.csv", rerun=rerun_hint, numeric=numbers)
    before, after = per_category.get_column("expected_revenue_before").sum(), per_category.get_column("expected_revenue_after").sum()
    weights = per_category.get_column("pairs")
    retention = lambda c: float((per_category.get_column(c) * weights).sum() / weights.sum())  # noqa: E731
    # What the plan is compared with: the retailer's planned offers only where it gave them.
    status_quo = io.read_parquet(out / "prepared" / "status_quo.parquet", rerun=rerun_hint, columns=["fold", "reference_rule"])
    forward = status_quo.filter(pl.col("fold") == pl.col("fold").max())
    return {
        "planned_share": forward.filter(pl.col("reference_rule") == "planned").height / max(forward.height, 1),
        "offers": out / "recommendations" / "offers.csv",
        "report": out / "report" / "report.html",
        "period_start": plan.get_column("period_start").min(),
        "period_end": plan.get_column("period_end").max(),
        "pairs": plan.height,
        "revenue_change": (after - before) / before if before else float("nan"),
        "retention_before": retention("retention_before"),
        "retention_after": retention("retention_after"),
        "no_offer_share": retention("no_offer_share") if "no_offer_share" in per_category.columns else float("nan"),
        "revenue_change_without_rules": (per_category.get_column("expected_revenue_without_rules").sum() - before) / before
        if before and "expected_revenue_without_rules" in per_category.columns
        else float("nan"),
        **_offer_spread(per_category),
        "experiment": io.read_json(out / "recommendations" / EXPERIMENT, rerun=rerun_hint)
        if (out / "recommendations" / EXPERIMENT).is_file()
        else None,
        "per_category": per_category,
        "valuation": ""
        if cfg is None
        else valuation_sentence(cfg.optimize.response, cfg.optimize.response_quantile, cfg.optimize.response_caution),
    }


def _offer_spread(per_category: pl.DataFrame) -> dict[str, float]:
    """The shares of consumer-categories given no offer, one and several, over every category."""
    names = ("consumer_categories_no_offer", "consumer_categories_one_offer", "consumer_categories_several_offers")
    if "consumer_categories" not in per_category.columns:
        return dict.fromkeys(names, float("nan"))
    units = per_category.get_column("consumer_categories").cast(pl.Float64)
    return {name: float((per_category.get_column(name).cast(pl.Float64) * units).sum() / units.sum()) for name in names}


TRUTH_FILES = ("ground_truth.parquet", "ground_truth_future.parquet")  # a simulator's true response, beside its data


def has_truth(source: str) -> bool:
    """Whether the data at `source` hold a simulator's true response (policy scores can be computed)."""
    return any((Path(source) / name).is_file() for name in TRUTH_FILES)


def _truth(source: str, start: dt.date) -> pl.DataFrame | None:
    """The simulator's true response in the period starting `start` (None on real data)."""
    folder = Path(source)
    parts = [pl.read_parquet(folder / name) for name in TRUTH_FILES if (folder / name).is_file()]
    if not parts:
        return None
    truth = pl.concat([t.select(*PAIR, "category", "offer_pct", "period_start", "true_a", "true_b") for t in parts])
    truth = truth.filter(pl.col("period_start") == start).drop("period_start")
    return truth if truth.height else None


def policy_scores(out: Path, source: str, cfg: Config) -> pl.DataFrame | None:
    """Backtest and forward policy scores against the simulator's truth (columns of
    report.policy.policy_score plus `decision`); None on real data."""
    p = read_prepared(out / "prepared")
    world = choice_world(source)
    thresholds_frame = io.read_parquet(out / "evaluation" / "thresholds.parquet", rerun=resume_hint(out))
    tables = []
    for decision, fold, folder, offers in (
        ("backtest", p.last_backtest_fold, out / "evaluation", out / "optimize" / "offers.parquet"),
        ("forward", p.forward_fold, out / "recommendations", out / "recommendations" / "offers.parquet"),
    ):
        truth_all = _truth(source, p.period_dates(p.decided_period(fold))[0])
        if truth_all is None:
            continue
        truth = truth_all.select(*PAIR, "true_a", "true_b")
        chosen = io.read_parquet(offers, rerun=resume_hint(out))
        chosen = chosen.with_columns(recommended_offer_pct=pl.col(plan_columns(chosen)[0]))  # the plan, not its experiment
        score = score_against_truth(
            p.frame,
            io.read_parquet(folder / "pair_elasticity.parquet", rerun=resume_hint(out)),
            thresholds_frame,
            io.read_csv(folder / "elasticity.csv", rerun=resume_hint(out)),
            chosen,
            truth,
            cfg.optimize,
            read_levels(offers.parent),
            fold=fold,
            model=cfg.model.decision_model,
            world=world,
            truth_all=truth_all,
        )
        tables.append(score.with_columns(decision=pl.lit(decision)))
    return pl.concat(tables) if tables else None


def _true_slopes(out: Path, source: str, pairs: pl.DataFrame | None) -> pl.DataFrame | None:
    """The forward decision's pair slopes (`pairs`: its pair_elasticity) beside the simulator's true
    ones (None on real data): customer_id, item_id, category, true_a, pair_slope (the TCN's), dml_slope (if estimated)."""
    if pairs is None:
        return None
    manifest = io.read_json(out / "prepared" / "features.json")  # the dates only: no need to read the panel again
    truth = _truth(source, period_dates(manifest, pairs.get_column("period").first())[0])
    if truth is None:
        return None
    return pairs.select(*PAIR, "category", "pair_slope", *[c for c in ("dml_slope",) if c in pairs.columns]).join(
        truth.select(*PAIR, "true_a"), on=PAIR
    )


def built(out: Path, source: str, data: str, cfg: Config) -> tuple[Report, ReportInputs, pl.DataFrame | None]:
    """The report of the run in `out` (nothing written): the page, what it read, the policy scores."""
    policy = policy_scores(out, source, cfg)
    inputs = _report_inputs(out, source, cfg, policy)
    return build_report(inputs, title=f"offerwise: {data}", settings=report_settings(cfg)), inputs, policy


def report(out: Path, source: str, data: str, cfg: Config) -> Path:
    """report.html: the forward plan first, the backtest evidence below it; table1.csv; policy scores."""
    page, inputs, policy = built(out, source, data, cfg)
    if policy is not None:
        io.write_csv(policy, out / "report" / "policy_score.csv")
    for name, png in page.pngs.items():
        io.write_bytes(png, out / "report" / f"{name}.png")
    io.write_csv(page.uplift, out / "evaluation" / "uplift_deciles.csv")
    t1 = table1(inputs.metrics, inputs.f1, inputs.fits, inputs.summary, response=cfg.optimize.response, objective=cfg.optimize.objective)
    io.write_csv(t1, out / "report" / "table1.csv")
    return io.write_text(page.html, out / "report" / "report.html")


def report_settings(cfg: Config) -> ReportSettings:
    return ReportSettings(
        model=cfg.model.decision_model,
        response_kind=cfg.optimize.response,
        quantile=cfg.optimize.response_quantile,
        caution=cfg.optimize.response_caution,
        level=cfg.response.level,
    )


def _report_inputs(out: Path, source: str, cfg: Config, policy: pl.DataFrame | None) -> ReportInputs:
    """Every artifact the report reads, once."""
    evaluation, backtest, forward = out / "evaluation", out / "optimize", out / "recommendations"
    hint = resume_hint(out)
    read_csv = lambda path: io.read_csv(path, rerun=hint)  # noqa: E731
    read_parquet = lambda path: io.read_parquet(path, rerun=hint)  # noqa: E731
    optional = lambda path: read_csv(path) if path.is_file() else None  # noqa: E731
    planned = (forward / "summary.csv").is_file()
    plan_pairs = read_parquet(forward / "pair_elasticity.parquet") if planned else None  # the worth's interval and the true slopes
    return ReportInputs(
        data=load_data(source, with_promotions=False, max_lines_per_consumer_ratio=cfg.data.max_lines_per_consumer_ratio),
        metrics=read_csv(evaluation / "metrics.csv"),
        f1=read_csv(evaluation / "f1.csv"),
        fits=read_csv(evaluation / "elasticity.csv"),
        predictions=read_parquet(evaluation / "predictions.parquet"),
        thresholds=read_parquet(evaluation / "thresholds.parquet"),
        pair_elasticity=read_parquet(evaluation / "pair_elasticity.parquet"),
        offers=read_parquet(backtest / "offers.parquet"),
        summary=read_csv(backtest / "optimization_summary.csv"),
        differences=optional(evaluation / "model_differences.csv"),
        response=optional(evaluation / "response.csv"),
        placebo=optional(evaluation / "response_placebo.csv"),
        cross=optional(evaluation / "cross_response.csv"),
        cross_placebo=optional(evaluation / "cross_response_placebo.csv"),
        plan=summary(out) if planned else None,
        plan_offers=read_parquet(forward / "offers.parquet") if planned else None,
        plan_pairs=plan_pairs,
        policy=policy,
        true_slopes=_true_slopes(out, source, plan_pairs),
        measurement=read_measurement(out) if planned else None,
    )
