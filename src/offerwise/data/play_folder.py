"""`offerwise simulate --play RUN --data SIM --out NEXT`: the files around data/play.py. Reads SIM's
state and the run's plan, plays the fortnight, writes NEXT: SIM's files one fortnight longer."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from offerwise import io
from offerwise.data.play import HISTORY_SCHEMA, Played, as_history, check_plan, plan_period, play
from offerwise.data.simulate import static_world
from offerwise.data.simulate_frames import (
    RERUN,
    STATE_FILE,
    SimState,
    read_simulation_config,
    read_state,
    write_offers,
    write_state,
    write_transactions,
)
from offerwise.errors import InputError

PLAN = Path("recommendations") / "offers.parquet"
UNCHANGED = ("item_data.csv", "customer_demographics.csv", "ground_truth_categories.csv", "ground_truth_cross.csv")
TRANSACTIONS = {
    "date": pl.Date,
    "customer_id": pl.Int64,
    "item_id": pl.Int64,
    "quantity": pl.Int64,
    "selling_price": pl.Float64,
    "other_discount": pl.Float64,
    "coupon_discount": pl.Float64,
}


def play_folder(run: Path, data: Path, out: Path) -> dict[str, object]:
    """Play RUN's plan on SIM (`data`) into `out`; what happened, for the command's line. Every input
    is checked before anything is written."""
    run, data, out = Path(run), Path(data), Path(out)
    if not (run / PLAN).is_file():
        raise InputError(f"--play {run}: no {PLAN}; give a folder written by `offerwise run` (or `recommend`).")
    if not (data / "simulation_config.json").is_file():
        raise InputError(f"--data {data}: not a simulator folder (no simulation_config.json); give one written by `offerwise simulate`.")
    if out.resolve() == data.resolve():
        raise InputError(f"--out {out}: is the --data folder; give a new folder (the played data goes beside it).")
    cfg, played = read_simulation_config(data)
    state = read_state(data / STATE_FILE)
    world = static_world(cfg)
    _check_state(world, state, played, data)
    plan = check_plan(io.read_parquet(run / PLAN, rerun=io.rerun("run", run)), cfg, state, file=str(run / PLAN))
    result = play(cfg, world, state, plan)
    start, end = plan_period(cfg, state)
    entry = {
        "round": result.state.round,
        "period_start": str(start),
        "period_end": str(end),
        "plan": str(run / PLAN),
        "plan_pairs": plan.height,
    }
    _write_next(result, data, out, {**cfg.model_dump(mode="json"), "played": [*played, entry]})
    truth = result.played_truth
    return {
        **entry,
        "transactions": result.transactions.height,
        "plan_purchases": int(truth.filter("in_plan").get_column("purchased").sum()),
        "purchases": int(truth.get_column("purchased").sum()),
        "next_period_start": str(plan_period(cfg, result.state)[0]),
    }


def _check_state(world: dict[str, dict], state: SimState, played: list[dict], data: Path) -> None:
    """The state must be the one the config's world goes with: the same pairs, the same round."""
    pairs, items = world["pairs"], world["items"]
    same_pairs = state.customer_id.size == pairs["cust"].size and (
        (state.customer_id == pairs["cust"] + 1).all() and (state.item_id == items["item_id"][pairs["item"]]).all()
    )
    if not same_pairs or state.round != len(played):
        raise InputError(f"--data {data}: {STATE_FILE} does not match simulation_config.json; {RERUN}.")


def _write_next(result: Played, data: Path, out: Path, config: dict) -> None:
    """NEXT's files: SIM's unchanged ones copied, the dynamic ones with the played fortnight appended."""
    for name in UNCHANGED:
        if (data / name).is_file():
            io.write_bytes((data / name).read_bytes(), out / name)
    transactions = _read_csv(data / "customer_transaction_data.csv", TRANSACTIONS)
    write_transactions(pl.concat([transactions, result.transactions.cast(TRANSACTIONS)]), out)
    truth = io.read_parquet(data / "ground_truth.parquet", rerun=RERUN)
    io.write_parquet(pl.concat([truth, result.ground_truth.cast(truth.schema)]), out / "ground_truth.parquet")
    history = as_history(_read_csv(data / "offer_history.csv", HISTORY_SCHEMA))
    write_offers(pl.concat([history, result.offer_history]), out / "offer_history.csv")
    write_offers(result.planned_offers, out / "planned_offers.csv")
    io.write_parquet(result.future_truth, out / "ground_truth_future.parquet")
    io.write_parquet(result.played_truth, out / "played_truth.parquet")
    write_state(result.state, out / STATE_FILE)
    io.write_json(config, out / "simulation_config.json")


def _read_csv(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The simulator's CSV file with `schema`'s types (columns it lacks stay out), or InputError naming it."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
        text = [c for c in schema if c in frame.columns]
        return frame.select(pl.col(c).str.to_date("%Y-%m-%d") if schema[c] == pl.Date else pl.col(c).cast(schema[c]) for c in text)
    except (*io.UNREADABLE_CSV, pl.exceptions.InvalidOperationError):
        raise io.damaged(path, "CSV file", RERUN) from None
