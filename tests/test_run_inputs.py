"""What a run reads and says it compared with: resume fingerprints only the files offerwise reads and
names the one that changed; plans of fractions or without rows stop `prepare`; the headline says
what the plan is measured against."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise import pipeline
from offerwise.cli import app
from offerwise.pipeline.resume import StageRecords, _changed
from offerwise.report.words import compared_with as _compared_with

runner = CliRunner()


def _copy(small_sim_dir: Path, folder: Path) -> Path:
    shutil.copytree(small_sim_dir, folder, ignore=shutil.ignore_patterns("ground_truth*"))
    return folder


def test_fingerprint_covers_the_files_read_and_names_the_one_that_changed(small_sim_dir: Path, tmp_path: Path) -> None:
    data = _copy(small_sim_dir, tmp_path / "data")
    before = pipeline.data_fingerprint(str(data))
    assert set(before) == {
        "customer_transaction_data.csv",
        "item_data.csv",
        "customer_demographics.csv",
        "offer_history.csv",
        "planned_offers.csv",
    }
    (data / "README.txt").write_text("exported on Monday")
    (data / ".DS_Store").write_bytes(b"\x00\x01")
    assert pipeline.data_fingerprint(str(data)) == before
    (data / "item_data.csv").write_text((data / "item_data.csv").read_text().replace("Grocery", "Food"))
    after = pipeline.data_fingerprint(str(data))
    assert _changed(before, after) == ": item_data.csv"
    assert _changed(before, {**after, "transactions.csv": "x"}) == ": item_data.csv, transactions.csv (new)"
    assert _changed(None, after) == ""  # a record from before input_files


def test_a_stage_rerun_names_the_changed_input_file(tmp_path: Path) -> None:
    said: list[str] = []
    key = {"config_hash": "c", "inputs": "i", "version": "v", "input_files": {"transactions.csv": "1", "items.csv": "2"}}
    StageRecords(tmp_path, key, said.append)("prepare", lambda: (tmp_path / "prepared").mkdir())
    changed = {**key, "inputs": "j", "input_files": {"transactions.csv": "9", "items.csv": "2"}}
    StageRecords(tmp_path, changed, said.append)("prepare", lambda: None)
    assert "(the input data changed: transactions.csv)" in said[-2], said


@pytest.mark.parametrize(
    "plan, says",
    [
        (lambda p: p.with_columns(pl.col("offer_pct") / 100), "column 'offer_pct': every offer is between 0 and 1"),
        (lambda p: p.head(0), "no planned offers: the file has a header and nothing else"),
    ],
)
def test_prepare_refuses_a_plan_of_fractions_or_without_rows(small_sim_dir: Path, tmp_path: Path, plan, says: str) -> None:
    data = _copy(small_sim_dir, tmp_path / "data")
    plan(pl.read_csv(data / "planned_offers.csv")).write_csv(data / "planned_offers.csv")
    result = runner.invoke(app, ["prepare", "--data", str(data), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "planned_offers.csv" in lines[0] and says in lines[0], result.output
    assert not (tmp_path / "p").exists()


def test_headline_says_what_the_plan_is_measured_against() -> None:
    assert _compared_with(1.0) == "the retailer's plan"
    assert _compared_with(0.0) == "the reference offers (no plan given: panel.status_quo_rule)"
    assert _compared_with(0.25) == "the retailer's plan (25% of pairs) and the reference offers for the rest (panel.status_quo_rule)"


@pytest.mark.slow
def test_run_summary_counts_the_planned_pairs(quick_run: Path) -> None:
    assert pipeline.summary(quick_run)["planned_share"] == 1.0  # the simulator writes a plan for every item


def test_prepare_says_what_cleaning_dropped(small_sim_dir: Path, tmp_path: Path) -> None:
    data = _copy(small_sim_dir, tmp_path / "data")
    tx = pl.read_csv(data / "customer_transaction_data.csv")
    tx.with_columns(quantity=pl.when(pl.int_range(pl.len()) % 5 == 0).then(0).otherwise("quantity")).write_csv(
        data / "customer_transaction_data.csv"
    )
    result = runner.invoke(app, ["prepare", "--data", str(data), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    dropped = (tx.height + 4) // 5
    assert (
        f"load: {tx.height:,} lines read, {tx.height - dropped:,} kept; dropped: {dropped:,} zero-quantity lines (20.0%)" in result.output
    )
