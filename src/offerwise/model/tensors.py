"""Panel rows -> dense tensors for the network, with encoders that survive save / load.

Categorical levels map to codes 1..n; code 0 is "unknown" (a level unseen at fit time), so a saved
model scores new consumers, items or levels without error. A hashed column (the consumer id, by
default) maps to 1 + hash(value) mod buckets instead: no list of levels to store, and a new consumer
gets a bucket like any other. Continuous features are standardised with training-row statistics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from offerwise.features.manifest import by_group


@dataclass
class Encoders:
    temporal_continuous: list[str]
    static_continuous: list[str]
    temporal_categorical: list[str]
    static_categorical: list[str]
    levels: dict[str, list[str]]  # categorical column -> known levels (code = index + 1)
    mean: dict[str, float]
    std: dict[str, float]
    hashed: dict[str, int] = field(default_factory=dict)  # categorical column -> buckets (codes 1..buckets, no levels)
    clip: float | None = None  # standardised inputs clipped to +-clip: a few rows 100s of sds out (lag skews, kurtoses) swamp a layer
    linear: list[str] = field(default_factory=list)  # continuous columns never clipped (the offer term's input: its response stays linear)

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        features: list,
        train_mask: pl.Expr,
        *,
        hashed: dict[str, int | None] | None = None,
        clip: float | None = None,
        linear: list[str] | None = None,
    ) -> Encoders:
        """hashed: column -> buckets; None keeps one code per level, 0 leaves the column out.
        clip: standardised continuous inputs are clipped to [-clip, clip] (None: not clipped).
        linear: continuous columns kept standardised only, never clipped."""
        if clip is not None and not clip > 0:
            raise ValueError(f"The 'clip' parameter of Encoders.fit must be None or > 0. Got {clip} instead.")
        hashed = hashed or {}
        for column, buckets in hashed.items():
            if buckets is not None and buckets < 0:
                raise ValueError(f"The buckets of '{column}' must be None, 0 or a whole number >= 1. Got {buckets} instead.")
        dropped = {c for c, b in hashed.items() if b == 0}
        groups = {
            g: [c for c in by_group(features, g) if c not in dropped]
            for g in ("temporal_continuous", "static_continuous", "temporal_categorical", "static_categorical")
        }
        buckets = {c: int(b) for c, b in hashed.items() if b and c in groups["temporal_categorical"] + groups["static_categorical"]}
        # Each column filtered to the training rows inside its expression: a filter of the frame copies its ~120 columns.
        train = lambda c: pl.col(c).filter(train_mask)  # noqa: E731
        cats = [c for c in groups["temporal_categorical"] + groups["static_categorical"] if c not in buckets]
        levels = {c: sorted(frame.select(train(c).cast(pl.String).unique().drop_nulls()).to_series().to_list()) for c in cats}
        conts = groups["temporal_continuous"] + groups["static_continuous"]
        stats = frame.select(
            [train(c).cast(pl.Float64).mean().alias(f"m_{c}") for c in conts]
            + [train(c).cast(pl.Float64).std().alias(f"s_{c}") for c in conts]
        ).row(0, named=True)
        return cls(
            **groups,
            levels=levels,
            mean={c: float(stats[f"m_{c}"] or 0.0) for c in conts},
            std={c: float(stats[f"s_{c}"] or 1.0) or 1.0 for c in conts},
            hashed=buckets,
            clip=clip,
            linear=[c for c in (linear or []) if c in conts],
        )

    def scaled(self, column: str) -> pl.Expr:
        """A continuous column standardised with the training-row mean and sd (and clipped unless it
        is in `linear`), as float32."""
        z = (pl.col(column).cast(pl.Float64) - self.mean[column]) / self.std[column]
        if self.clip is not None and column not in self.linear:
            z = z.clip(-self.clip, self.clip)
        return z.cast(pl.Float32).alias(column)

    def cardinalities(self, columns: list[str]) -> tuple[int, ...]:
        return tuple(self.hashed[c] + 1 if c in self.hashed else len(self.levels[c]) + 1 for c in columns)

    def codes(self, frame: pl.DataFrame, column: str) -> np.ndarray:
        """(rows,) int64 codes of one categorical column: 0 for unknown levels and nulls."""
        if column in self.hashed:
            return _hashed_codes(frame.get_column(column), self.hashed[column])
        return _codes(frame, column, self.levels[column])

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class SequenceTensors:
    """Arrays for P pairs x T periods (pair order = sorted customer_id, item_id)."""

    tc: np.ndarray  # (P, T, Ftc) float32
    tcat: np.ndarray  # (P, T, Ktc) int64
    sc: np.ndarray  # (P, Fsc) float32
    scat: np.ndarray  # (P, Ksc) int64
    y: np.ndarray  # (P, T) float32
    period: np.ndarray  # (T,) the periods covered
    keys: pl.DataFrame  # (P) customer_id, item_id, category, relevant_from_fold


def last_periods(mask: np.ndarray, n: int | None) -> np.ndarray:
    """A (P, T) target mask restricted to its last n periods with any target (None: unchanged)."""
    if n is None:
        return mask
    periods = np.flatnonzero(mask.any(axis=0))
    return mask & np.isin(np.arange(mask.shape[1]), periods[-n:])[None, :]


def _codes(frame: pl.DataFrame, column: str, levels: list[str]) -> np.ndarray:
    """Each row's 1-based position of its value's text in `levels`; 0 for unknown levels and nulls.
    The text of an integer or categorical column is taken of its distinct values only (a calendar
    column has a few dozen over millions of rows), then mapped back in the column's own type."""
    mapping = pl.DataFrame({"__text": levels, "__code": np.arange(1, len(levels) + 1)}, schema={"__text": pl.String, "__code": pl.Int64})
    values = frame.get_column(column)
    if values.dtype == pl.String or values.dtype.is_float():  # floats: NaN is one text but never equal to itself
        return (
            values.cast(pl.String)
            .to_frame("__text")
            .join(mapping, on="__text", how="left", maintain_order="left")
            .get_column("__code")
            .fill_null(0)
            .to_numpy()
        )
    known = (
        values.unique().drop_nulls().to_frame("__value").with_columns(__text=pl.col("__value").cast(pl.String)).join(mapping, on="__text")
    )
    return values.replace_strict(known.get_column("__value"), known.get_column("__code"), default=0, return_dtype=pl.Int64).to_numpy()


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed 64-bit mix (SplitMix64's finaliser): stable across runs, versions and machines."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hashed_codes(values: pl.Series, buckets: int) -> np.ndarray:
    """1 + hash(value) mod buckets; 0 for nulls. Integer ids are mixed directly, others through their
    text's BLAKE2b digest (one digest per distinct value), so codes never depend on the data seen."""
    if values.dtype.is_integer():
        raw = values.cast(pl.Int64).fill_null(0).to_numpy().view(np.uint64)
    else:
        text = values.cast(pl.String)
        distinct = text.unique().drop_nulls()
        digests = [int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little") for v in distinct.to_list()]
        table = pl.DataFrame({"v": distinct, "h": pl.Series(digests, dtype=pl.UInt64)})
        raw = pl.DataFrame({"v": text}).join(table, on="v", how="left", maintain_order="left").get_column("h").fill_null(0).to_numpy()
    codes = (_splitmix64(raw) % np.uint64(buckets)).astype(np.int64) + 1
    return np.where(values.is_null().to_numpy(), 0, codes)


PAIR_MAJOR = ("customer_id", "item_id", "period")
_SAME_PAIR = (pl.col("customer_id") == pl.col("customer_id").shift(1)) & (pl.col("item_id") == pl.col("item_id").shift(1))


def pair_major_rows(keys: pl.DataFrame) -> np.ndarray | None:
    """Row indices that sort `keys` (customer_id, item_id, period; unique) pair-major, or None where
    it already is. The panel is category-major with each pair's periods together and in order, so
    the common case reorders whole pair blocks: a sort of the pairs, not of every row."""
    flags = keys.select(
        new_pair=~_SAME_PAIR.fill_null(False),
        back_in_time=(_SAME_PAIR & (pl.col("period") <= pl.col("period").shift(1))).fill_null(False).any(),
    )
    if keys.height and flags.item(0, "back_in_time"):
        return _sorted_rows(keys)
    starts = np.flatnonzero(flags.get_column("new_pair").to_numpy())
    blocks = (
        keys.select("customer_id", "item_id")[starts]
        .with_columns(__start=pl.Series(starts, dtype=pl.Int64), __len=pl.Series(np.diff(np.r_[starts, keys.height]), dtype=pl.Int64))
        .sort("customer_id", "item_id", maintain_order=True)
    )
    if blocks.select(_SAME_PAIR.any()).item():
        return _sorted_rows(keys)  # a pair's rows in two places: not blocks
    start, length = blocks.get_column("__start").to_numpy(), blocks.get_column("__len").to_numpy()
    rows = np.repeat(start - (np.cumsum(length) - length), length) + np.arange(keys.height)
    return None if np.array_equal(rows, np.arange(keys.height)) else rows


def _sorted_rows(keys: pl.DataFrame) -> np.ndarray:
    return keys.select(pl.arg_sort_by(*PAIR_MAJOR)).to_series().to_numpy()


def pair_major(frame: pl.DataFrame, keep: pl.Expr | None = None) -> pl.DataFrame:
    """frame (its rows where `keep`, default all) sorted by customer_id, item_id, period, with every
    column moved once: the filter and the order come from the key columns (`pair_major_rows`), then
    one gather (the panel's ~120 columns take seconds to copy); as it is when nothing changes."""
    kept = None if keep is None else frame.select(keep.alias("__keep")).get_column("__keep").fill_null(False).to_numpy()
    subset = None if kept is None or kept.all() else np.flatnonzero(kept)
    keys = frame.select(PAIR_MAJOR)
    order = pair_major_rows(keys if subset is None else keys[subset])
    if order is None:
        return frame if subset is None else frame[subset]
    return frame[order if subset is None else subset[order]]


PAIR_KEYS = ["customer_id", "item_id", "category", "relevant_from_fold"]  # SequenceTensors.keys: what names each pair


def to_tensors(frame: pl.DataFrame, enc: Encoders) -> SequenceTensors:
    """frame: panel rows of whole pairs (every period of each pair)."""
    frame = pair_major(frame)
    periods = np.sort(frame.get_column("period").unique().to_numpy())
    T = periods.size
    P = frame.height // T
    if P * T != frame.height:
        raise ValueError("The panel must have every period of each pair; got a ragged frame.")

    def cont(rows: pl.DataFrame, cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros((rows.height, 0), dtype=np.float32)
        return rows.select([enc.scaled(c) for c in cols]).to_numpy()

    def cat(rows: pl.DataFrame, cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros((rows.height, 0), dtype=np.int64)
        return np.stack([enc.codes(rows, c) for c in cols], axis=1).astype(np.int64)

    static = list(dict.fromkeys([*enc.static_continuous, *enc.static_categorical, *PAIR_KEYS]))
    first = frame.select(static).gather(np.arange(P) * T)  # static features: the pair's first row (of these columns only)
    return SequenceTensors(
        tc=cont(frame, enc.temporal_continuous).reshape(P, T, -1),
        tcat=cat(frame, enc.temporal_categorical).reshape(P, T, -1),
        sc=cont(first, enc.static_continuous),
        scat=cat(first, enc.static_categorical),
        y=frame.get_column("target").fill_null(0).to_numpy().astype(np.float32).reshape(P, T),  # future: no label, never in a loss
        period=periods,
        keys=first.select(PAIR_KEYS),
    )
