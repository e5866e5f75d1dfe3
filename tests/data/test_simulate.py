from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from offerwise.config import SimulationConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import write_simulation


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


# The fortnight after the data, the retailer's offer records and targeted promotions.

NEW_FILES = {
    "ground_truth_future.parquet": [
        "customer_id", "item_id", "category", "period_start", "offer_pct", "true_a", "true_b", "true_probability", "shock",
    ],
    "offer_history.csv": ["item_id", "start_date", "end_date", "offer_pct"],
    "planned_offers.csv": ["item_id", "start_date", "end_date", "offer_pct"],
}  # fmt: skip


def _config(policy: str, strength: float = 1.0, seed: int = 3) -> SimulationConfig:
    return SimulationConfig(
        customers=150, items=40, weeks=60, categories=2, seed=seed, promotion_policy=policy, promotion_strength=strength
    )


def _read(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(folder / name) if name.endswith(".parquet") else pl.read_csv(folder / name, try_parse_dates=True)


@pytest.mark.parametrize("policy", ["random", "targeted"])
def test_both_policies_write_every_file_byte_for_byte(tmp_path: Path, policy: str) -> None:
    cfg = _config(policy)
    for name in ("a", "b"):
        write_simulation(simulate(cfg), tmp_path / name, cfg)
    files = sorted(f.name for f in (tmp_path / "a").iterdir())
    assert set(NEW_FILES) | {"ground_truth.parquet", "customer_transaction_data.csv"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name, columns in NEW_FILES.items():
        assert _read(tmp_path / "a", name).columns == columns, name
    truth = pl.read_parquet(tmp_path / "a" / "ground_truth.parquet")
    assert truth.columns[-1] == "shock" and "purchased" in truth.columns
    assert (truth.get_column("shock").abs().max() > 0) == (policy == "targeted")


@pytest.mark.parametrize("policy", ["random", "targeted"])
def test_fortnight_after_the_data(tmp_path: Path, policy: str) -> None:
    cfg = _config(policy)
    write_simulation(simulate(cfg), tmp_path, cfg)
    truth = pl.read_parquet(tmp_path / "ground_truth.parquet")
    future = pl.read_parquet(tmp_path / "ground_truth_future.parquet")
    history = pl.read_csv(tmp_path / "offer_history.csv", try_parse_dates=True)
    planned = pl.read_csv(tmp_path / "planned_offers.csv", try_parse_dates=True)
    tx = pl.read_csv(tmp_path / "customer_transaction_data.csv", try_parse_dates=True)
    periods = cfg.weeks // 2

    # One period after the last data period, with no transactions; the same consumer-item pairs.
    last = truth.get_column("period_start").max()
    start = future.get_column("period_start").unique()
    assert start.to_list() == [last + dt.timedelta(days=14)]
    assert tx.get_column("date").max() < start.item()
    assert future.height == truth.filter(pl.col("period_start") == last).height
    assert (
        future.select("customer_id", "item_id")
        .sort("customer_id", "item_id")
        .equals(truth.filter(pl.col("period_start") == last).select("customer_id", "item_id").sort("customer_id", "item_id"))
    )
    logit = (future.get_column("true_a") * future.get_column("offer_pct") + future.get_column("true_b")).to_numpy()
    assert np.allclose(1 / (1 + np.exp(-logit)), future.get_column("true_probability").to_numpy())

    # The plan: one row per item, the offers of ground_truth_future.
    assert planned.height == cfg.items == planned.get_column("item_id").n_unique()
    assert (planned.get_column("start_date") == start.item()).all()
    assert ((planned.get_column("end_date") - planned.get_column("start_date")).dt.total_days() == 13).all()
    per_item = future.group_by("item_id").agg(pl.col("offer_pct").unique())
    assert per_item.get_column("offer_pct").list.len().max() == 1
    joined = planned.join(per_item.explode("offer_pct"), on="item_id", suffix="_truth")
    assert (joined.get_column("offer_pct") == joined.get_column("offer_pct_truth")).all()

    # The history: every item x data period, the offers in ground_truth.parquet.
    assert history.height == cfg.items * periods
    assert history.select("item_id", "start_date").n_unique() == history.height
    assert history.get_column("start_date").min() == cfg.start and history.get_column("start_date").max() == last
    assert ((history.get_column("end_date") - history.get_column("start_date")).dt.total_days() == 13).all()
    ran = truth.group_by("item_id", "period_start").agg(pl.col("offer_pct").unique()).explode("offer_pct")
    assert ran.select("item_id", "period_start").n_unique() == ran.height  # one offer per item and period
    matched = ran.join(history.rename({"start_date": "period_start"}), on=["item_id", "period_start"], suffix="_history")
    assert matched.height == ran.height
    assert (matched.get_column("offer_pct") == matched.get_column("offer_pct_history")).all()

    # The future's shock is the AR(1) expectation rho * last shock (0 under "random"), inside true_b.
    shocks = truth.filter(pl.col("period_start") == last).group_by("item_id").agg(pl.col("shock").first())
    expected = future.join(shocks, on="item_id", suffix="_last")
    assert np.allclose(expected.get_column("shock").to_numpy(), cfg.shock_rho * expected.get_column("shock_last").to_numpy())


def _offer_vs_past_sales(sim) -> tuple[float, float]:
    """Correlation of each item's offer in t with its sales in t - 1 (against the mean of its earlier
    periods, as the retailer could know them) and with its demand shock in t - 1."""
    sales = sim.ground_truth.group_by("item_id", "period_start").agg(buyers=pl.col("purchased").sum(), shock=pl.col("shock").first())
    frame = (
        sim.offer_history.rename({"start_date": "period_start"})
        .join(sales, on=["item_id", "period_start"], how="left")
        .with_columns(pl.col("buyers", "shock").fill_null(0))
        .sort("item_id", "period_start")
        .with_columns(
            earlier=(pl.col("buyers").cum_sum() - pl.col("buyers")).over("item_id") / pl.int_range(pl.len()).over("item_id"),
            previous=pl.col("buyers").shift(1).over("item_id"),
            previous_shock=pl.col("shock").shift(1).over("item_id"),
        )
        .with_columns(baseline=pl.col("earlier").shift(1).over("item_id"))
        .filter(pl.col("baseline").is_finite())  # from the third period: t - 1 has earlier periods
    )
    offer = frame.get_column("offer_pct").to_numpy()
    weak = ((frame.get_column("previous") - frame.get_column("baseline")) / (frame.get_column("baseline") + 1)).to_numpy()
    shock = frame.get_column("previous_shock").to_numpy()
    return float(np.corrcoef(offer, weak)[0, 1]), float(np.corrcoef(offer, shock)[0, 1]) if shock.std() > 0 else 0.0


def test_targeted_promotions_follow_weak_demand_random_ones_do_not() -> None:
    random_sales, _ = _offer_vs_past_sales(simulate(_config("random")))
    targeted_sales, targeted_shock = _offer_vs_past_sales(simulate(_config("targeted")))
    flat_sales, flat_shock = _offer_vs_past_sales(simulate(_config("targeted", strength=0.0)))
    print(f"corr(offer_t, sales_t-1): random {random_sales:+.3f}, targeted {targeted_sales:+.3f}, strength 0 {flat_sales:+.3f}")
    print(f"corr(offer_t, shock_t-1): targeted {targeted_shock:+.3f}, strength 0 {flat_shock:+.3f}")
    # About 1,100 item-periods each: a correlation's standard error is about 0.03.
    assert targeted_sales < -0.12 and targeted_shock < -0.08
    assert abs(random_sales) < 0.08 and abs(flat_sales) < 0.08 and abs(flat_shock) < 0.08
    assert targeted_sales < random_sales - 0.1


def test_strength_zero_promotes_exactly_when_random_does() -> None:
    random = simulate(_config("random")).offer_history.get_column("offer_pct")
    flat = simulate(_config("targeted", strength=0.0)).offer_history.get_column("offer_pct")
    # Same promotion draws (common random numbers); depths are drawn separately but from the same law.
    assert ((random > 5) == (flat > 5)).all()
    assert (flat.filter(flat <= 5) == random.filter(random <= 5)).all()
