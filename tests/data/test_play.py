from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.config import SimulationConfig
from offerwise.data.plans import read_offer_table
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import write_simulation

runner = CliRunner()
UNCHANGED = ["item_data.csv", "customer_demographics.csv", "ground_truth_categories.csv"]


def _sim(folder: Path, **options: object) -> Path:
    cfg = SimulationConfig(**{"customers": 60, "items": 30, "weeks": 20, "categories": 2, "seed": 3, **options})
    write_simulation(simulate(cfg), folder, cfg)
    return folder


def _plan(run: Path, sim: Path, *, share: float = 0.5, seed: int = 0, consumers: int = 40) -> pl.DataFrame:
    """A run folder whose plan gives 50 % to `share` of the first `consumers`' pairs at random and
    the retailer's planned offer to the rest of them (arm 'explore' / 'plan')."""
    future = pl.read_parquet(sim / "ground_truth_future.parquet").filter(pl.col("customer_id") <= consumers)
    deep = np.random.default_rng(seed).random(future.height) < share
    plan = future.select(
        "customer_id",
        "item_id",
        "category",
        "period_start",
        period_end=pl.col("period_start") + dt.timedelta(days=13),
        reference_offer_pct="offer_pct",
        recommended_offer_pct=pl.when(pl.Series(deep)).then(50.0).otherwise(pl.col("offer_pct")),
        arm=pl.when(pl.Series(deep)).then(pl.lit("explore")).otherwise(pl.lit("plan")),
        propensity=pl.when(pl.Series(deep)).then(0.5).otherwise(1.0),
    )
    (run / "recommendations").mkdir(parents=True, exist_ok=True)
    plan.write_parquet(run / "recommendations" / "offers.parquet")
    return plan


def _play(run: Path, sim: Path, out: Path) -> Path:
    result = runner.invoke(app, ["simulate", "--play", str(run), "--data", str(sim), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pl.DataFrame]:
    root = tmp_path_factory.mktemp("play")
    sim = _sim(root / "sim")
    plan = _plan(root / "run", sim)
    return sim, _play(root / "run", sim, root / "next"), plan


def test_next_has_one_more_fortnight(played: tuple[Path, Path, pl.DataFrame]) -> None:
    sim, nxt, plan = played
    start = plan.get_column("period_start")[0]
    truth = pl.read_parquet(nxt / "ground_truth.parquet")
    assert truth.get_column("period_start").max() == start
    assert (
        truth.get_column("period_start").n_unique()
        == pl.read_parquet(sim / "ground_truth.parquet").get_column("period_start").n_unique() + 1
    )
    tx = pl.read_csv(nxt / "customer_transaction_data.csv", try_parse_dates=True)
    assert tx.get_column("date").max() <= start + dt.timedelta(days=13) and tx.get_column("date").max() >= start
    following = start + dt.timedelta(days=14)
    for name in ("planned_offers.csv", "ground_truth_future.parquet"):
        frame = pl.read_parquet(nxt / name) if name.endswith("parquet") else pl.read_csv(nxt / name, try_parse_dates=True)
        column = "period_start" if "period_start" in frame.columns else "start_date"
        assert frame.get_column(column).unique().to_list() == [following], name
    config = json.loads((nxt / "simulation_config.json").read_text())
    assert [entry["round"] for entry in config["played"]] == [1] and config["played"][0]["period_start"] == str(start)
    history = pl.read_csv(nxt / "offer_history.csv", try_parse_dates=True).filter(pl.col("start_date") == start)
    consumer_rows = history.filter(pl.col("customer_id").is_not_null())
    assert consumer_rows.height == plan.height and history.height == plan.height + 30  # and one row per item
    assert consumer_rows.get_column("arm").drop_nulls().len() == plan.height


def test_the_offer_history_is_read_with_consumer_rows_beside_item_rows(played: tuple[Path, Path, pl.DataFrame]) -> None:
    _, nxt, plan = played
    table = read_offer_table(nxt / "offer_history.csv", items=pl.read_csv(nxt / "item_data.csv"), dated=True)
    start = plan.get_column("period_start")[0]
    specific = table.filter(pl.col("customer_id").is_not_null()).select("customer_id", "item_id", "offer_pct", "start_date")
    expected = plan.select("customer_id", "item_id", offer_pct="recommended_offer_pct", start_date="period_start")
    assert_frame_equal(specific.sort("customer_id", "item_id"), expected.sort("customer_id", "item_id"), check_dtypes=False)
    assert table.filter(pl.col("customer_id").is_null() & (pl.col("start_date") == start)).height == 30


def test_first_fortnights_are_sims_files_unchanged(played: tuple[Path, Path, pl.DataFrame]) -> None:
    sim, nxt, _ = played
    for name in UNCHANGED:
        assert (nxt / name).read_bytes() == (sim / name).read_bytes(), name
    assert (nxt / "customer_transaction_data.csv").read_bytes().startswith((sim / "customer_transaction_data.csv").read_bytes())
    before = pl.read_parquet(sim / "ground_truth.parquet")
    assert_frame_equal(pl.read_parquet(nxt / "ground_truth.parquet").head(before.height), before)
    old = pl.read_csv(sim / "offer_history.csv")
    assert_frame_equal(pl.read_csv(nxt / "offer_history.csv").head(old.height).select(old.columns), old)


def test_same_inputs_same_files(played: tuple[Path, Path, pl.DataFrame], tmp_path: Path) -> None:
    sim, nxt, _ = played
    again = _play(nxt.parent / "run", sim, tmp_path / "again")
    assert sorted(f.name for f in again.iterdir()) == sorted(f.name for f in nxt.iterdir())
    for file in nxt.iterdir():
        assert file.read_bytes() == (again / file.name).read_bytes(), file.name


def test_purchases_follow_the_given_offers(tmp_path: Path) -> None:
    sim = _sim(tmp_path / "sim", customers=240)
    plan = _plan(tmp_path / "run", sim, consumers=240)
    truth = pl.read_parquet(_play(tmp_path / "run", sim, tmp_path / "next") / "played_truth.parquet")
    given = truth.join(plan.select("customer_id", "item_id", "recommended_offer_pct"), on=["customer_id", "item_id"])
    assert (given.get_column("offer_pct") == given.get_column("recommended_offer_pct")).all()
    rates = given.group_by(deep=pl.col("arm") == "explore").agg(
        n=pl.len(), rate=pl.col("purchased").mean(), p=pl.col("true_probability").mean(), offer=pl.col("offer_pct").mean()
    )
    deep, rest = (rates.filter(pl.col("deep") == flag).row(0, named=True) for flag in (True, False))
    assert deep["offer"] == 50.0 > rest["offer"] and deep["rate"] > rest["rate"] + 0.05
    for group in (deep, rest):
        se = np.sqrt(group["p"] * (1 - group["p"]) / group["n"])
        assert abs(group["rate"] - group["p"]) < 4 * se, group
    # The lines carry the given offer as their discount (coupons aside).
    tx = pl.read_csv(tmp_path / "next" / "customer_transaction_data.csv", try_parse_dates=True)
    lines = tx.filter(pl.col("date") >= plan.get_column("period_start")[0]).join(given, on=["customer_id", "item_id"])
    gross = lines.get_column("selling_price") - lines.get_column("other_discount") - lines.get_column("coupon_discount")
    discount = (gross * lines.get_column("offer_pct") / 100).to_numpy()
    assert np.allclose(-lines.get_column("other_discount").to_numpy(), discount, atol=0.006)  # to the cent
    assert lines.height == given.get_column("purchased").sum()


def test_playing_twice(played: tuple[Path, Path, pl.DataFrame], tmp_path: Path) -> None:
    sim, nxt, _ = played
    plan = _plan(tmp_path / "run2", nxt, seed=1)
    second = _play(tmp_path / "run2", nxt, tmp_path / "next2")
    config = json.loads((second / "simulation_config.json").read_text())
    assert [entry["round"] for entry in config["played"]] == [1, 2]
    truth = pl.read_parquet(second / "ground_truth.parquet")
    assert truth.get_column("period_start").max() == plan.get_column("period_start")[0]
    assert truth.height == pl.read_parquet(sim / "ground_truth.parquet").height * 12 // 10  # 10 periods, then 2 played
    table = read_offer_table(second / "offer_history.csv", items=pl.read_csv(second / "item_data.csv"), dated=True)
    assert table.filter(pl.col("customer_id").is_not_null()).get_column("start_date").n_unique() == 2


def test_randomised_rows_returned_to_the_history_survive_the_next_play(played: tuple[Path, Path, pl.DataFrame], tmp_path: Path) -> None:
    """The learning loop: measure's offer_history rows (with expected_offer_pct) joined to NEXT's history stay in NEXT's NEXT."""
    _, nxt, _ = played
    data = tmp_path / "data"
    shutil.copytree(nxt, data)
    history = pl.read_csv(data / "offer_history.csv", infer_schema_length=None)
    learned = history.with_columns(expected_offer_pct=pl.when(pl.col("customer_id").is_not_null()).then(25.0))
    learned.write_csv(data / "offer_history.csv")
    _plan(tmp_path / "run", data, seed=2)
    after = pl.read_csv(_play(tmp_path / "run", data, tmp_path / "next") / "offer_history.csv", infer_schema_length=None)
    assert after.get_column("expected_offer_pct").drop_nulls().len() == learned.get_column("expected_offer_pct").drop_nulls().len() > 0


def test_targeted_shock_steps_from_the_last_one(tmp_path: Path) -> None:
    sim = _sim(tmp_path / "sim", promotion_policy="targeted")
    _plan(tmp_path / "run", sim)
    nxt = _play(tmp_path / "run", sim, tmp_path / "next")
    shocks = [
        pl.read_parquet(folder / "ground_truth_future.parquet").group_by("item_id").agg(pl.col("shock").first()).sort("item_id")
        for folder in (sim, nxt)
    ]
    truth = pl.read_parquet(nxt / "ground_truth.parquet")
    played = truth.filter(pl.col("period_start") == truth.get_column("period_start").max()).group_by("item_id").agg(pl.col("shock").first())
    realised = played.sort("item_id").get_column("shock").to_numpy()
    assert not np.allclose(realised, shocks[0].get_column("shock").to_numpy())  # an innovation, not the expectation
    assert np.allclose(shocks[1].get_column("shock").to_numpy(), 0.7 * realised)


def test_substitution_buys_one_item_per_consumer_category_at_most(tmp_path: Path) -> None:
    sim = _sim(tmp_path / "sim", substitution=True, cross_category=0.5)
    _plan(tmp_path / "run", sim)
    nxt = _play(tmp_path / "run", sim, tmp_path / "next")
    truth = pl.read_parquet(nxt / "played_truth.parquet")
    assert truth.get_column("purchased").sum() > 0
    assert truth.group_by("customer_id", "category").agg(pl.col("purchased").sum()).get_column("purchased").max() == 1
    assert (nxt / "ground_truth_cross.csv").read_bytes() == (sim / "ground_truth_cross.csv").read_bytes()


def _bad_cases(root: Path, sim: Path, out: Path) -> dict[str, tuple[list[str], str]]:
    run = root / "run"
    plan = pl.read_parquet(run / "recommendations" / "offers.parquet")
    cases = {
        "late": plan.with_columns(pl.col("period_start", "period_end") + dt.timedelta(days=14)),
        "unknown": plan.with_columns(pl.col("item_id") + 1000),
    }
    for name, frame in cases.items():
        (root / name / "recommendations").mkdir(parents=True, exist_ok=True)
        frame.write_parquet(root / name / "recommendations" / "offers.parquet")
    play = ["simulate", "--out", str(out), "--play"]
    return {
        "run without offers": ([*play, str(root), "--data", str(sim)], "no recommendations/offers.parquet"),
        "not a simulator folder": ([*play, str(run), "--data", str(root)], "not a simulator folder"),
        "another fortnight": ([*play, str(root / "late"), "--data", str(sim)], "the fortnight after the data"),
        "unknown pairs": ([*play, str(root / "unknown"), "--data", str(sim)], "pairs the simulator does not have"),
        "play without data": ([*play, str(run)], "go together"),
        "play with a size": ([*play, str(run), "--data", str(sim), "--customers", "5"], "--customers"),
    }


@pytest.mark.parametrize(
    "case",
    ["run without offers", "not a simulator folder", "another fortnight", "unknown pairs", "play without data", "play with a size"],
)
def test_bad_input_is_one_line_and_exit_2(played: tuple[Path, Path, pl.DataFrame], tmp_path: Path, case: str) -> None:
    sim, nxt, _ = played
    args, expected = _bad_cases(nxt.parent, sim, tmp_path / "out")[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "out").exists()
