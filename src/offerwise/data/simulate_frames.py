"""The simulator's files: its arrays as frames in the AmExpert layout plus the truth, written and
read back in one place (docs/simulator.md, Files)."""

from __future__ import annotations

import io as bytes_io
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import ValidationError

from offerwise import io
from offerwise.config import SimulationConfig
from offerwise.data.choice import ChoiceWorld
from offerwise.errors import config_error

CATEGORY_NAMES = [
    "Grocery",
    "Pharmaceutical",
    "Meat",
    "Bakery",
    "Natural Products",
    "Seafood",
    "Packaged Meat",
    "Dairy, Juices, Snacks",
    "Prepared Food",
    "Skin & Hair Care",
    "Flowers & Plants",
    "Vegetables (cut)",
]
PERIOD_DAYS = 14
RERUN = "write the simulated data again with `offerwise simulate`"
STATE_FILE = "simulation_state.npz"


@dataclass(frozen=True)
class SimState:
    """The dynamics at the end of a folder's data: what playing a further fortnight goes on from."""

    round: int  # fortnights played after `offerwise simulate` (0: none)
    customer_id: np.ndarray  # (pairs,) the considered pairs, in the simulator's order
    item_id: np.ndarray  # (pairs,)
    habit: np.ndarray  # (pairs,) after the last data period
    since_last: np.ndarray  # (pairs,) periods since the last purchase, after the last data period
    drift: np.ndarray  # (customers,) the random walk's value in the last data period
    shock: np.ndarray  # (items,) the demand shock in the last data period (0 under "random")
    everyday: np.ndarray  # (items,) the everyday offer % (0 or 5)
    sales: np.ndarray  # (items, data periods) buyers per item and period: what the targeted retailer reads
    item_offer: np.ndarray  # (items, data periods + 1) the retailer's offers so far, then its plan

    @property
    def periods(self) -> int:
        return self.sales.shape[1]


@dataclass(frozen=True)
class SimulatedData:
    """Tables in the AmExpert layout plus the truth behind them."""

    transactions: pl.DataFrame  # customer_transaction_data.csv
    items: pl.DataFrame  # item_data.csv
    demographics: pl.DataFrame  # customer_demographics.csv
    ground_truth: pl.DataFrame  # one row per consumer x item x period of the data
    categories: pl.DataFrame  # category, true_a (per offer %), season phase
    offer_history: pl.DataFrame  # item x data period: the offer the retailer ran (0 included)
    planned_offers: pl.DataFrame  # item: the retailer's plan for the fortnight after the data
    future_truth: pl.DataFrame  # consumer x item for the fortnight after the data: expected truth
    cross: pl.DataFrame | None = None  # with substitution: category, related_category, weight (W)
    state: SimState | None = None  # simulation_state.npz


def category_names(codes: np.ndarray) -> np.ndarray:
    return np.array(CATEGORY_NAMES)[np.asarray(codes) % len(CATEGORY_NAMES)]


def item_frame(items: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": items["item_id"],
            "brand": items["brand"],
            "brand_type": np.where(items["local"], "Local", "Established"),
            "category": category_names(items["category"]),
        }
    )


def category_frame(categories: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "category": category_names(np.arange(categories["a"].size)).tolist(),
            "true_a": categories["a"],
            "season_phase": categories["phase"],
        }
    )


def cross_frame(weights: np.ndarray) -> pl.DataFrame:
    """W's non-zero entries: offers in related_category lower category's incidence by δ · weight · gain."""
    k, related = np.nonzero(weights)
    return pl.DataFrame(
        {"category": category_names(k).tolist(), "related_category": category_names(related).tolist(), "weight": weights[k, related]},
        schema={"category": pl.String, "related_category": pl.String, "weight": pl.Float64},
    )


def period_starts(cfg: SimulationConfig, first: int, count: int) -> np.ndarray:
    return np.datetime64(cfg.start) + ((first + np.arange(count)) * PERIOD_DAYS).astype("timedelta64[D]")


def ground_truth_frame(cfg: SimulationConfig, truth, items, first_period: int = 0) -> pl.DataFrame:
    """One row per pair x period of `truth` (period x pair arrays), periods from `first_period` on."""
    periods, n = truth["bought"].shape
    pairs = truth["pairs"]
    category = category_names(items["category"])
    return pl.DataFrame(
        {
            "customer_id": np.tile(pairs["cust"] + 1, periods),
            "item_id": np.tile(items["item_id"][pairs["item"]], periods),
            "category": np.tile(category[pairs["item"]], periods),
            "period_start": np.repeat(period_starts(cfg, first_period, periods), n),
            "offer_pct": truth["offer"][:periods].ravel(),
            "true_probability": truth["prob"][:periods].ravel(),
            "true_a": np.tile(pairs["a"], periods),
            "true_b": truth["base"][:periods].ravel(),
            "purchased": truth["bought"].ravel().astype(np.int8),
            "shock": truth["shock"][:periods].ravel(),
        }
    ).with_columns(pl.col("period_start").cast(pl.Date))


def future_truth_frame(cfg: SimulationConfig, truth, items) -> pl.DataFrame:
    """The fortnight after the data: planned offer and the response expected from the cutoff's state."""
    periods = truth["bought"].shape[0]
    at = {key: truth[key][periods] for key in ("offer", "base", "prob", "shock")}
    return period_truth_frame(cfg, truth["pairs"], items, periods, **at)


def period_truth_frame(cfg: SimulationConfig, pairs, items, period: int, *, offer, base, prob, shock) -> pl.DataFrame:
    """ground_truth_future's rows: one per pair in `period`, from its (pairs,) arrays."""
    category = category_names(items["category"])
    n = pairs["cust"].size
    return pl.DataFrame(
        {
            "customer_id": pairs["cust"] + 1,
            "item_id": items["item_id"][pairs["item"]],
            "category": category[pairs["item"]],
            "period_start": np.repeat(period_starts(cfg, period, 1), n),
            "offer_pct": offer,
            "true_a": pairs["a"],
            "true_b": base,
            "true_probability": prob,
            "shock": shock,
        }
    ).with_columns(pl.col("period_start").cast(pl.Date))


def offer_frame(cfg: SimulationConfig, items, offers: np.ndarray, first_period: int) -> pl.DataFrame:
    """One row per item x period (item-major): the retailer's record of its offers."""
    n_items, count = offers.shape
    starts = np.tile(period_starts(cfg, first_period, count), n_items)
    return pl.DataFrame(
        {
            "item_id": np.repeat(items["item_id"], count),
            "start_date": starts,
            "end_date": starts + np.timedelta64(PERIOD_DAYS - 1, "D"),
            "offer_pct": offers.ravel(),
        }
    ).with_columns(pl.col("start_date", "end_date").cast(pl.Date))


def write_simulation(sim: SimulatedData, out_dir: Path, config: SimulationConfig) -> None:
    """Write the AmExpert-layout files, the retailer's offer records and the truth, atomically."""
    out = Path(out_dir)
    write_transactions(sim.transactions, out)
    io.write_csv(sim.items, out / "item_data.csv")
    io.write_csv(sim.demographics, out / "customer_demographics.csv")
    io.write_parquet(sim.ground_truth, out / "ground_truth.parquet")
    io.write_csv(sim.categories, out / "ground_truth_categories.csv")
    if sim.cross is not None:
        io.write_csv(sim.cross, out / "ground_truth_cross.csv")
    io.write_parquet(sim.future_truth, out / "ground_truth_future.parquet")
    write_offers(sim.offer_history, out / "offer_history.csv")
    write_offers(sim.planned_offers, out / "planned_offers.csv")
    io.write_json(config.model_dump(mode="json"), out / "simulation_config.json")
    if sim.state is not None:
        write_state(sim.state, out / STATE_FILE)


def write_transactions(transactions: pl.DataFrame, out: Path) -> None:
    io.write_csv(transactions.with_columns(pl.col("date").dt.strftime("%Y-%m-%d")), out / "customer_transaction_data.csv")


def write_offers(offers: pl.DataFrame, path: Path) -> None:
    io.write_csv(offers.with_columns(pl.col("start_date", "end_date").dt.strftime("%Y-%m-%d")), path)


def write_state(state: SimState, path: Path) -> None:
    """The state's arrays as .npy members of a zip with fixed timestamps (np.savez stamps the time of
    writing), so the same seed gives the same bytes."""
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for field in fields(state):
            member = bytes_io.BytesIO()
            np.lib.format.write_array(member, np.asarray(getattr(state, field.name)), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{field.name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    io.write_bytes(buffer.getvalue(), path)


def read_state(path: Path) -> SimState:
    """simulation_state.npz, or InputError naming it (missing, or not the simulator's state)."""
    names = [field.name for field in fields(SimState)]
    try:
        with np.load(path, allow_pickle=False) as arrays:
            values = {name: arrays[name] for name in names}
    except FileNotFoundError:
        raise io.damaged(path, "simulation state", RERUN) from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise io.damaged(path, "simulation state", RERUN, problem=f"{type(exc).__name__}: {exc}") from None
    return SimState(**{**values, "round": int(values["round"])})


def read_simulation_config(folder: Path) -> tuple[SimulationConfig, list[dict]]:
    """A folder's simulation_config.json: the config that drew it and the fortnights played since
    (its `played` entries, written by `simulate --play`; none for `simulate`'s own folders)."""
    path = Path(folder) / "simulation_config.json"
    raw = io.read_json(path, rerun=RERUN)
    played = raw.pop("played", []) if isinstance(raw, dict) else []
    try:
        return SimulationConfig.model_validate(raw), played
    except ValidationError as exc:
        raise config_error(exc, source=str(path), section="simulation") from None


def choice_world(data_folder: str | Path) -> ChoiceWorld | None:
    """How the simulator's truth responds to a plan (choice.true_probability_under), from the folder's
    simulation_config.json and ground_truth_cross.csv; None when the folder is not a simulation."""
    folder = Path(data_folder)
    if not (folder / "simulation_config.json").is_file():
        return None
    cfg = read_simulation_config(folder)[0]
    if not cfg.substitution:
        return ChoiceWorld()
    cross = io.read_csv(folder / "ground_truth_cross.csv", rerun=RERUN, require=["category", "related_category"], numeric=["weight"])
    weights = {(k, r): w for k, r, w in cross.select("category", "related_category", "weight").iter_rows()}
    return ChoiceWorld(True, cfg.category_expansion, cfg.cross_category, weights)
