from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from offerwise.config import SimulationConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.data.simulate import simulate, write_simulation


def test_same_seed_same_files_byte_for_byte(tmp_path: Path, small_sim_config: SimulationConfig) -> None:
    for name in ("a", "b"):
        write_simulation(simulate(small_sim_config), tmp_path / name, small_sim_config)
    for file in sorted((tmp_path / "a").iterdir()):
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes(), file.name
    other = small_sim_config.model_copy(update={"seed": 4})
    assert not simulate(other).transactions.equals(simulate(small_sim_config).transactions)


def test_output_reads_back_in_amexpert_layout(small_sim_dir: Path) -> None:
    data = read_amexpert(small_sim_dir)
    truth = pl.read_parquet(small_sim_dir / "ground_truth.parquet")
    assert data.report.kept_lines == data.report.raw_lines == truth.get_column("purchased").sum()
    # Offers in the files are the ground truth's offers, up to rounding the discount to cents.
    bought = truth.filter(pl.col("purchased") == 1).get_column("offer_pct").sort()
    read = data.transactions.get_column("offer_pct").sort()
    assert np.allclose(read.to_numpy(), bought.to_numpy(), atol=2.0)
    assert (read - bought).abs().median() < 0.1


def test_true_probability_is_the_sigmoid_of_its_parameters(small_sim_dir: Path) -> None:
    truth = pl.read_parquet(small_sim_dir / "ground_truth.parquet")
    logit = truth.get_column("true_a") * truth.get_column("offer_pct") + truth.get_column("true_b")
    assert np.allclose(1 / (1 + np.exp(-logit.to_numpy())), truth.get_column("true_probability").to_numpy())


def test_empirical_purchase_rate_matches_truth_by_offer_level() -> None:
    sim = simulate(SimulationConfig(customers=2000, items=80, weeks=40, categories=2, seed=11))
    by_offer = sim.ground_truth.group_by("offer_pct").agg(
        rate=pl.col("purchased").mean(), truth=pl.col("true_probability").mean(), n=pl.len()
    )
    for row in by_offer.filter(pl.col("n") > 2000).iter_rows(named=True):
        se = np.sqrt(row["truth"] * (1 - row["truth"]) / row["n"])
        assert abs(row["rate"] - row["truth"]) < 4 * se, row
    # Offers raise the purchase rate: the sensitivity is positive and identifiable.
    rates = by_offer.sort("offer_pct").filter(pl.col("n") > 2000)
    assert rates.get_column("rate").first() < rates.get_column("rate").last()


def test_habit_a_purchase_changes_next_periods_probability() -> None:
    sim = simulate(SimulationConfig(customers=800, items=60, weeks=40, categories=2, seed=5))
    truth = sim.ground_truth.sort("customer_id", "item_id", "period_start").with_columns(
        prev=pl.col("purchased").shift(1).over("customer_id", "item_id")
    )
    b = truth.drop_nulls("prev").group_by("prev").agg(pl.col("true_b").mean()).sort("prev")
    assert b.get_column("true_b").to_list()[0] != pytest.approx(b.get_column("true_b").to_list()[1], abs=0.05)


def test_scales_to_many_customers_quickly() -> None:
    sim = simulate(SimulationConfig(customers=20_000, items=400, weeks=20, categories=4, seed=1))
    assert sim.ground_truth.get_column("customer_id").n_unique() == 20_000
