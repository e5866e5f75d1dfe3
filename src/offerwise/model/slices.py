"""Slices of the panel the models see: one category (or all) in one fold, with inputs as known at each cutoff."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.columns import OFFER, PAIR, age_column
from offerwise.config import ModelConfig
from offerwise.features.interactions import INTERACTION_FEATURES
from offerwise.features.manifest import Feature
from offerwise.features.status_quo import rule_of
from offerwise.model.tensors import Encoders, SequenceTensors, pair_major, to_tensors

ALL = "__all__"  # the shared model's "category": no real category can take it (slugs of categories carry a hash)


@dataclass
class Slice:
    """One category (or all) in one fold: rows of relevant pairs up to the fold's test period."""

    frame: pl.DataFrame
    train_periods: list[int]
    validation: int
    test: int
    validation_rows: pl.DataFrame | None = None  # the validation period's rows with inputs as known at its cutoff
    min_orders: int = 0  # a training row counts only if its pair had this many order periods before it (`eligible_rows`)


def slug(category: str) -> str:
    """A folder name for a category's models: readable, and unique (a short hash of the exact name),
    so two names that reduce to the same letters never share a folder; the shared model is `all`."""
    if category == ALL:
        return "all"
    readable = re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")[:40] or "category"
    return f"{readable}-{hashlib.sha1(category.encode()).hexdigest()[:6]}"


def model_categories(frame: pl.DataFrame, per_category: bool) -> list[str]:
    """The categories that get their own models, or the shared model's ALL."""
    return sorted(frame.get_column("category").unique().to_list()) if per_category else [ALL]


def make_slice(
    frame: pl.DataFrame,
    splits: pl.DataFrame,
    fold: int,
    category: str,
    status_quo: pl.DataFrame | None = None,
    *,
    validation_as_decided: bool = False,
    validation_sq: pl.DataFrame | None = None,
    min_orders: int = 0,
) -> Slice:
    """Rows of the fold's relevant pairs up to its decided (test) period.

    With `status_quo` (customer_id, item_id, reference_offer_pct[, reference_rule]), the decided
    period's inputs are what is known at the cutoff: its offer is the status quo offer (the decision
    variable's baseline), and the other retailer-set inputs (display, mailer, coupon exposure, the
    other offers' features of features/interactions.py) are the cutoff period's. Nothing realised in the decided period reaches a prediction.

    With `validation_as_decided` too, `validation_rows` holds the validation period's rows with
    inputs built the same way at its own cutoff (`validation_status_quo`), so early stopping,
    calibration and the stack learn from validation rows scored as the decided rows will be. The
    frame keeps the validation period's realised inputs: they are history for the decided period.
    `validation_sq`: that status quo as prepared for all consumers (prepare's validation_status_quo.parquet);
    without it, it is computed from these rows (the same where the slice holds every consumer).
    `min_orders`: see `eligible_rows`.
    """
    s = splits.filter(pl.col("fold") == fold)
    period = lambda name: s.filter(pl.col("split") == name).get_column("period")  # noqa: E731
    test = int(period("test").item())
    keep = (pl.col("relevant_from_fold") <= fold) & (pl.col("period") <= test)
    # In the tensors' pair-major order from here, so raw columns reshape without re-sorting.
    rows = pair_major(frame, keep if category == ALL else keep & (pl.col("category") == category))
    validation, validation_rows = int(period("validation").item()), None
    if status_quo is not None:
        rows = _decided_inputs(rows, test, status_quo)
    if status_quo is not None and validation_as_decided:
        sq = validation_sq if validation_sq is not None else validation_status_quo(rows, validation, status_quo, rule_of(status_quo))
        validation_rows = _decided_inputs(_with_previous_rows(rows, validation), validation, sq).filter(pl.col("period") == validation)
    return Slice(rows, period("train").to_list(), validation, test, validation_rows, min_orders)


def _with_previous_rows(rows: pl.DataFrame, period: int) -> pl.DataFrame:
    """The rows of `period` and the row before each (pair-major rows): all `_decided_inputs` reads
    to set that period's inputs, without copying the whole slice."""
    at = np.flatnonzero(rows.get_column("period").to_numpy() == period)
    return rows[np.union1d(at[at > 0] - 1, at)]


def validation_status_quo(rows: pl.DataFrame, validation: int, status_quo: pl.DataFrame, rule: str = "recent_offers") -> pl.DataFrame:
    """The status quo offer of each pair at the validation period, by the decided period's rule: the
    offer the retailer ran there where the decided period's status quo is its plan (reference_rule
    "planned": a record of offers run), else the unplanned status quo (`rule`, panel.status_quo_rule)
    from the periods before it.

    Columns: customer_id, item_id, reference_offer_pct.
    """
    from offerwise.features.status_quo import unplanned_offers

    rows = rows.filter(pl.col("period") <= validation)
    reference = unplanned_offers(rows, validation, age_column=age_column(rows), rule=rule).select(PAIR + ["reference_offer_pct"])
    if "reference_rule" not in status_quo.columns:
        return reference
    planned = status_quo.filter(pl.col("reference_rule") == "planned").select(PAIR)
    ran = (
        rows.select(*PAIR, "period", "offer_pct")
        .filter(pl.col("period") == validation)
        .join(planned, on=PAIR)
        .select(*PAIR, __ran=pl.col("offer_pct").cast(pl.Float64))
    )
    return (
        reference.join(ran, on=PAIR, how="left")
        .with_columns(reference_offer_pct=pl.coalesce("__ran", "reference_offer_pct"))
        .select(PAIR + ["reference_offer_pct"])
    )


PLANNED_INPUTS = ("display", "mailer", "coupon_exposure")  # retailer-set, known in advance, not decided here
# The other pairs' offers of the decided period are decided too, and in a backtest the panel's come
# from that period's lines: until the optimiser sets them, the cutoff period's.
CARRIED_INPUTS = PLANNED_INPUTS + INTERACTION_FEATURES


def _decided_inputs(rows: pl.DataFrame, test: int, status_quo: pl.DataFrame) -> pl.DataFrame:
    decided = pl.col("period") == test
    offers = status_quo.select("customer_id", "item_id", __sq=pl.col("reference_offer_pct").cast(rows.schema["offer_pct"]))
    # Joined on the keys alone: a join of the whole slice would copy its ~120 columns (status quo: one row per pair).
    sq = rows.select("customer_id", "item_id").join(offers, on=["customer_id", "item_id"], how="left", maintain_order="left")
    rows = rows.with_columns(sq.get_column("__sq"))
    # Rows are pair-major and period-sorted (make_slice): the row before a decided row is its pair's
    # previous period when it is the same pair. A plain shift, ~10x cheaper than a window over pairs.
    same_pair = (pl.col("customer_id").shift(1) == pl.col("customer_id")) & (pl.col("item_id").shift(1) == pl.col("item_id"))
    carried = [
        pl.when(decided).then(pl.when(same_pair).then(pl.col(c).shift(1))).otherwise(pl.col(c)).alias(c)
        for c in CARRIED_INPUTS
        if c in rows.columns
    ]
    return rows.with_columns(
        pl.when(decided).then(pl.col("__sq").fill_null(0.0)).otherwise(pl.col("offer_pct")).alias("offer_pct"), *carried
    ).drop("__sq")


def eligible_rows(sl: Slice, shape: tuple[int, int]) -> np.ndarray:
    """(P, T): rows whose pair had at least `sl.min_orders` order periods before the row's period.

    A pair is in the panel because it was bought in >= min_purchases periods before the fold's
    validation period. Before it reached that count, its rows' targets are conditioned on the
    future: it *will* be bought again before the cutoff (on the Complete Journey such rows' purchase
    rate in the last 8 training periods is 0.30, against 0.05-0.17 for the rest). Every decided
    row has reached it, so only rows that have, by their own past, are like them."""
    if sl.min_orders <= 0:
        return np.ones(shape, bool)
    return raw_matrix(sl, "ci_orders", shape) >= sl.min_orders


def split_masks(t, sl: Slice) -> dict[str, np.ndarray]:
    P = t.y.shape[0]
    col = lambda cond: np.broadcast_to(cond[None, :], (P, t.period.size))  # noqa: E731
    return {
        "train": col(np.isin(t.period, sl.train_periods)) & eligible_rows(sl, t.y.shape),
        "validation": col(t.period == sl.validation),
        "test": col(t.period == sl.test),
    }


def decided_validation(sl: Slice, enc: Encoders) -> SequenceTensors | None:
    """The validation period's inputs as decided (sl.validation_rows): same pairs, same order, one period."""
    return None if sl.validation_rows is None else to_tensors(sl.validation_rows, enc)


def validation_as_decided(t: SequenceTensors, sl: Slice, enc: Encoders) -> SequenceTensors:
    """t with the validation period's inputs replaced, in place, by sl.validation_rows' (if any).
    Columns after the validation period then see those inputs as history: score the decided period first."""
    rows = decided_validation(sl, enc)
    if rows is not None:
        col = int(np.flatnonzero(t.period == sl.validation)[0])
        t.tc[:, col], t.tcat[:, col] = rows.tc[:, 0], rows.tcat[:, 0]
    return t


def fit_encoders(sl: Slice, features: list[Feature], cfg: ModelConfig) -> Encoders:
    """The encoders a slice's models train with: statistics of its training periods, the consumer id
    as cfg.customer_buckets says, the offer never clipped (its term stays linear in the offer)."""
    train = pl.col("period").is_in(sl.train_periods)
    return Encoders.fit(sl.frame, features, train, hashed={"customer_id": cfg.customer_buckets}, clip=cfg.input_clip, linear=[OFFER])


def slice_tensors(sl: Slice, enc: Encoders) -> tuple[SequenceTensors, dict[str, np.ndarray]]:
    """A slice's tensors (validation inputs as decided) and its train / validation / test masks."""
    t = validation_as_decided(to_tensors(sl.frame, enc), sl, enc)  # the decided period is never in a loss
    return t, split_masks(t, sl)


def raw_matrix(sl: Slice, column: str, shape: tuple[int, int]) -> np.ndarray:
    return sl.frame.get_column(column).to_numpy().reshape(shape)
