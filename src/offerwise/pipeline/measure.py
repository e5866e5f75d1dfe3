"""`offerwise measure`'s runner: reads a run's plan (with its arms) and the export now covering the
decided fortnight once, measures it (experiment/measure.py) and writes <run>/measurement/:

    summary.csv        one row per estimate: plan − holdout per consumer, the plan's value per pair
    by_category.csv    realised against predicted per arm and category
    slopes.csv         the explore arm's offer slope per category beside the estimator's
    offer_history.csv  the fortnight's offers in the offer history layout, with arm and propensity
    report.html        the measurement's page (figure_measurement.png beside it)

`offerwise pool` reads several runs' measurement/ and writes the fortnights pooled (experiment/pool.py)
to a folder of its own: summary.csv, by_category.csv and slopes.csv, each with `fortnights`.

The run's report.html gets the measurement section when it is built again (pipeline/report.py reads
measurement/ when it exists); `measure` does not rebuild it: that needs the run's original data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from offerwise import io
from offerwise.config import Config
from offerwise.data.load import load_data
from offerwise.errors import InputError
from offerwise.experiment.measure import PLAN_COLUMNS, Design, Measurement, arm_problem
from offerwise.experiment.measure import measure as measure_stage
from offerwise.experiment.pool import POOLED_COLUMNS, pooled_by_category, pooled_slopes, pooled_summary
from offerwise.pipeline.folders import EXPERIMENT, silent
from offerwise.report.measurement import measurement_page

MEASUREMENT = "measurement"
FILES = ("summary", "by_category", "slopes")  # the frames the report reads back


@dataclass
class Plan:
    """A run's plan as measure reads it: offers (with arms), experiment.json's design and fortnight,
    the run's config, the forward decision's response.csv (None when absent), the offers' path."""

    offers: pl.DataFrame
    design: Design
    period: tuple[dt.date, dt.date]
    config: Config
    response: pl.DataFrame | None
    path: Path


def read_plan(run: Path) -> Plan:
    """The plan `offerwise recommend` wrote into `run`; one InputError line for a folder without a
    plan, a plan without arms, or an experiment.json that does not match the offers."""
    if not run.is_dir():
        raise InputError(f"--run {run}: no such folder; give the run folder `offerwise recommend` wrote.")
    rec = run / "recommendations"
    path = rec / "offers.parquet"
    if not path.is_file():
        raise InputError(f"{path}: missing; {run} holds no plan (run `offerwise recommend --out {run}` first).")
    hint = f"run `offerwise recommend --out {run}` again"
    offers = io.read_parquet(path, rerun=hint, require=PLAN_COLUMNS)
    problem = arm_problem(offers, 0.0)  # the arm columns first: an older plan has no experiment.json either
    if problem is not None and "no arms" in problem:
        raise InputError(f"{path}: {problem}")
    design, period = _experiment(rec / EXPERIMENT, hint)
    if problem := arm_problem(offers, design.holdout_share):
        raise InputError(f"{path}: {problem}")
    offered = (offers.get_column("period_start").min(), offers.get_column("period_end").max())
    if tuple(map(str, offered)) != tuple(map(str, period)):
        says = f"its fortnight {period[0]} – {period[1]} is not the offers' {offered[0]} – {offered[1]}"
        raise InputError(f"{rec / EXPERIMENT}: {says}; {hint}.")
    if not (run / "config.json").is_file():
        raise InputError(f"{run / 'config.json'}: missing; {hint}.")
    response = io.read_csv(rec / "response.csv", rerun=hint) if (rec / "response.csv").is_file() else None
    return Plan(offers, design, period, Config.from_toml(run / "config.json"), response, path)


def _experiment(path: Path, hint: str) -> tuple[Design, tuple[dt.date, dt.date]]:
    """experiment.json's design (seed, shares, levels) and fortnight (period_start, period_end), checked."""
    keys = ["seed", "holdout_share", "explore_share", "levels", "period_start", "period_end"]
    experiment = io.read_json(path, rerun=hint, require=keys)
    try:
        period = (dt.date.fromisoformat(str(experiment["period_start"])), dt.date.fromisoformat(str(experiment["period_end"])))
        levels = {str(c): [float(v) for v in values] for c, values in dict(experiment["levels"]).items()}
        design = Design(int(experiment["seed"]), float(experiment["holdout_share"]), float(experiment["explore_share"]), levels)
    except (TypeError, ValueError):
        problem = (
            "not the expected JSON: seed (a whole number), holdout_share and explore_share (numbers), "
            "levels (category: [offers]), period_start and period_end (ISO dates)"
        )
        raise io.damaged(path, "JSON file", hint, problem) from None
    return design, period


def check_export(transactions: pl.DataFrame, data: str, end: dt.date, panel_end: dt.date | None) -> None:
    """The export must run to the decided fortnight's last day: its last transaction's date, or
    `panel_end` (--config's panel.end) for an export that ends on a quiet day."""
    last = transactions.get_column("timestamp").max()
    export_end = panel_end or (last.date() if last is not None else None)
    if export_end is None or export_end < end:
        says = "panel.end in --config says" if panel_end else "its last transaction is on"
        raise InputError(
            f"--data {data}: the export does not cover the decided fortnight ({says} {export_end}, the fortnight ends on {end}); "
            "measure once it has run (an export ending on a quiet day: set panel.end in --config)."
        )


def measure(data: str, run: Path, cfg: Config | None = None, *, log: Callable[[str], None] = silent) -> dict[str, Any]:
    """Measure the decided fortnight of `run`'s plan on the export `data`; write run/measurement/.
    `cfg` (--config): the export's last day (panel.end) and the interval level and bootstrap
    (experiment.level, experiment.bootstrap); None: the run's config.json and the export's last date."""
    plan = read_plan(run)
    settings = cfg or plan.config
    if plan.config.panel.item_level != "item_id":
        raise InputError(
            f"{run / 'config.json'}: panel.item_level is {plan.config.panel.item_level!r}; measure reads plans made per item (item_id)."
        )
    start, end = plan.period
    loaded = load_data(data, with_promotions=False, max_lines_per_consumer_ratio=0)  # every consumer of the plan counts
    check_export(loaded.transactions, data, end, cfg.panel.end if cfg else None)
    log(f"measuring {plan.offers.height:,} pairs of the fortnight {start} – {end} on {data}")
    result = measure_stage(
        plan.offers,
        loaded.transactions,
        plan.design,
        level=settings.experiment.level,
        bootstrap=settings.experiment.bootstrap,
        response=plan.response,
    )
    folder = _write(result, run / MEASUREMENT, title=f"offerwise: measurement of {run.name}")
    return {"measurement": result, "folder": folder, "report": folder / "report.html", "period_start": start, "period_end": end}


def _write(result: Measurement, folder: Path, *, title: str) -> Path:
    frames = {"summary": result.summary, "by_category": result.by_category, "slopes": result.slopes}
    for name, frame in {**frames, "offer_history": result.offer_history}.items():
        io.write_csv(frame, folder / f"{name}.csv")
    html, png = measurement_page(frames, title=title)
    io.write_bytes(png, folder / "figure_measurement.png")
    io.write_text(html, folder / "report.html")
    return folder


def read_measurement(run: Path, require: dict[str, tuple[str, ...]] | None = None) -> dict[str, pl.DataFrame] | None:
    """measurement/'s summary, by_category and slopes for the run's report (each with the columns
    `require` names for it); None before `measure` ran."""
    folder = run / MEASUREMENT
    if not (folder / "summary.csv").is_file():
        return None
    hint = f"run `offerwise measure --run {run}` again"
    return {name: io.read_csv(folder / f"{name}.csv", rerun=hint, require=(require or {}).get(name, ())) for name in FILES}


def pool(runs: list[Path], out: Path) -> dict[str, Any]:
    """Several runs' measured fortnights pooled (experiment/pool.py), written to out/ (summary.csv,
    by_category.csv, slopes.csv). Each run must hold a measurement, and each fortnight count once."""
    if len(runs) < 2:
        raise InputError("--run: pool needs two or more measured runs (one --run per fortnight).")
    measured = {}
    for run in runs:
        frames = read_measurement(run, require=POOLED_COLUMNS)
        if frames is None:
            raise InputError(f"--run {run}: no measurement/summary.csv; run `offerwise measure --data EXPORT --run {run}` first.")
        start = str(frames["summary"].get_column("period_start")[0])
        if start in measured:
            raise InputError(
                f"--run {run}: measures the fortnight from {start}, as --run {measured[start][0]} does; pool each fortnight once."
            )
        measured[start] = (run, frames)
    parts = [frames for _, frames in measured.values()]
    pooled = {
        "summary": pooled_summary([f["summary"] for f in parts]),
        "by_category": pooled_by_category([f["by_category"] for f in parts]),
        "slopes": pooled_slopes([f["slopes"] for f in parts]),
    }
    for name, frame in pooled.items():
        io.write_csv(frame, out / f"{name}.csv")
    return {**pooled, "folder": out, "fortnights": len(parts)}
