"""`offerwise measure` on a synthetic run folder and export: what it writes, and one line for bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.data.plans import read_offer_table
from offerwise.pipeline import Pipeline
from tests.experiment.world import END, plan_world, write_export, write_run

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    return plan_world(consumers=400, seed=11)


def _measure(export: Path, run: Path, *extra: str):
    return runner.invoke(app, ["measure", "--data", str(export), "--run", str(run), *extra])


def _one_error_line(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_measure_writes_the_measurement_and_its_page(world, tmp_path: Path) -> None:
    offers, tx = world
    run, export = write_run(offers, tmp_path / "run"), write_export(tx, tmp_path / "export")
    result = _measure(export, run)
    assert result.exit_code == 0, result.output
    assert "plan − holdout net revenue per consumer" in result.output and "measurement" in result.output
    folder = run / "measurement"
    summary = pl.read_csv(folder / "summary.csv")
    assert {"estimate", "value", "low", "high", "level", "method", "n", "note"} <= set(summary.columns)
    assert summary.get_column("estimate").to_list()[:3] == [
        "plan_minus_holdout_cuped",
        "plan_minus_holdout_bootstrap",
        "plan_minus_holdout_plain",
    ]
    slopes = pl.read_csv(folder / "slopes.csv")
    assert slopes.get_column("estimator_slope").to_list() == [0.035, 0.025]  # from recommendations/response.csv
    by_category = pl.read_csv(folder / "by_category.csv")
    assert set(by_category.get_column("arm")) == {"holdout", "explore", "plan"}
    assert (folder / "report.html").read_text().count("<img") == 1 and (folder / "figure_measurement.png").stat().st_size > 10_000
    history = read_offer_table(folder / "offer_history.csv", items=pl.read_csv(export / "items.csv"), dated=True)
    assert history.height == offers.height and history.get_column("expected_offer_pct").null_count() == 0  # appendable to offer_history


def test_measure_through_the_pipeline_api(world, tmp_path: Path) -> None:
    offers, tx = world
    run, export = write_run(offers, tmp_path / "run"), write_export(tx, tmp_path / "export")
    frames = Pipeline(out=run).measure(str(export))
    assert set(frames) == {"summary", "by_category", "slopes", "offer_history"} and frames["summary"].height == 9


def test_an_export_that_ends_before_the_fortnight_is_one_line(world, tmp_path: Path) -> None:
    offers, tx = world
    early = tx.filter(pl.col("timestamp").dt.date() < END - dt.timedelta(days=3))
    run, export = write_run(offers, tmp_path / "run"), write_export(early, tmp_path / "export")
    _one_error_line(_measure(export, run), "the export does not cover the decided fortnight")
    assert not (run / "measurement").exists()
    config = tmp_path / "quiet.toml"
    config.write_text(f'[panel]\nend = "{END}"\n')  # the export ends on a quiet day
    assert _measure(export, run, "--config", str(config)).exit_code == 0


def test_a_run_folder_without_a_plan_is_one_line(world, tmp_path: Path) -> None:
    offers, tx = world
    export = write_export(tx, tmp_path / "export")
    (tmp_path / "empty").mkdir()
    _one_error_line(_measure(export, tmp_path / "empty"), "holds no plan")
    _one_error_line(_measure(export, tmp_path / "nowhere"), "no such folder")


def test_a_plan_made_before_experiments_is_one_line(world, tmp_path: Path) -> None:
    offers, tx = world
    run = write_run(offers.drop("arm", "propensity", "plan_offer_pct", "p_plan", "expected_revenue_plan"), tmp_path / "run")
    assert not (run / "recommendations" / "experiment.json").exists()
    result = _measure(write_export(tx, tmp_path / "export"), run)
    _one_error_line(result, "offers.parquet: no arms; the plan was made before experiments (rerun `offerwise recommend`)")


@pytest.mark.parametrize(
    ("arms", "holdout", "says"),
    [("plan", 0.3, "no holdout consumers although experiment.json's holdout_share is 0.3"), ("holdout", 0.3, "no plan consumers")],
)
def test_a_plan_whose_arms_miss_is_one_line(world, tmp_path: Path, arms: str, holdout: float, says: str) -> None:
    offers, tx = world
    run = write_run(offers.with_columns(arm=pl.lit(arms)), tmp_path / "run", holdout=holdout)
    _one_error_line(_measure(write_export(tx, tmp_path / "export"), run), says)


def test_an_experiment_json_of_another_fortnight_is_one_line(world, tmp_path: Path) -> None:
    offers, tx = world
    run = write_run(offers, tmp_path / "run")
    path = run / "recommendations" / "experiment.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"period_start": "2024-01-01"}))
    _one_error_line(_measure(write_export(tx, tmp_path / "export"), run), "is not the offers'")


def test_a_damaged_experiment_json_is_one_line(world, tmp_path: Path) -> None:
    offers, tx = world
    run = write_run(offers, tmp_path / "run")
    path = run / "recommendations" / "experiment.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"seed": "abc"}))
    _one_error_line(_measure(write_export(tx, tmp_path / "export"), run), "experiment.json: not the expected JSON: seed (a whole number)")


def _two_measured_fortnights(world, tmp_path: Path) -> tuple[Path, Path]:
    """The world's run measured, and a copy of it whose measurement is dated a fortnight later."""
    offers, tx = world
    first = write_run(offers, tmp_path / "first")
    assert _measure(write_export(tx, tmp_path / "export"), first).exit_code == 0
    second = tmp_path / "second" / "measurement"
    second.mkdir(parents=True)
    for name in ("summary", "by_category", "slopes"):
        frame = pl.read_csv(first / "measurement" / f"{name}.csv")
        if name == "summary":
            frame = frame.with_columns(pl.col("period_start", "period_end").str.to_date() + dt.timedelta(days=14))
        frame.write_csv(second / f"{name}.csv")
    return first, second.parent


def test_pool_writes_the_fortnights_pooled(world, tmp_path: Path) -> None:
    first, second = _two_measured_fortnights(world, tmp_path)
    result = runner.invoke(app, ["pool", "--run", str(first), "--run", str(second), "--out", str(tmp_path / "pooled")])
    assert result.exit_code == 0, result.output
    assert "plan − holdout net revenue per consumer over 2 fortnights" in result.output
    one = pl.read_csv(first / "measurement" / "summary.csv").row(0, named=True)
    pooled = pl.read_csv(tmp_path / "pooled" / "summary.csv").row(0, named=True)
    assert pooled["estimate"] == "plan_minus_holdout_cuped" and pooled["fortnights"] == 2
    assert pooled["value"] == pytest.approx(one["value"])  # the same fortnight twice: the same value, an interval √2 narrower
    assert pooled["high"] - pooled["low"] == pytest.approx((one["high"] - one["low"]) / 2**0.5)
    by_category = pl.read_csv(tmp_path / "pooled" / "by_category.csv")
    assert by_category.get_column("pairs").sum() == 2 * pl.read_csv(first / "measurement" / "by_category.csv").get_column("pairs").sum()
    assert (tmp_path / "pooled" / "slopes.csv").is_file()


def test_pool_without_two_measured_fortnights_is_one_line(world, tmp_path: Path) -> None:
    first, second = _two_measured_fortnights(world, tmp_path)
    pool = lambda *runs: runner.invoke(app, ["pool", *(a for r in runs for a in ("--run", str(r))), "--out", str(tmp_path / "p")])  # noqa: E731
    _one_error_line(pool(first), "pool needs two or more measured runs")
    _one_error_line(pool(first, tmp_path / "unmeasured"), "no measurement/summary.csv")
    _one_error_line(pool(first, first), "pool each fortnight once")
    pl.read_csv(second / "measurement" / "summary.csv").drop("low").write_csv(second / "measurement" / "summary.csv")
    _one_error_line(pool(first, second), "no column 'low'")
    assert not (tmp_path / "p").exists()
