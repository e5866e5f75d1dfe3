"""Panel rows -> dense tensors for the network, with encoders that survive save / load.

Categorical levels map to codes 1..n; code 0 is "unknown" (a level unseen at fit time), so a saved
model scores new consumers, items or levels without error. Continuous features are standardised
with training-row statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def fit(cls, frame: pl.DataFrame, features: list, train_mask: pl.Expr) -> Encoders:
        groups = {
            g: by_group(features, g) for g in ("temporal_continuous", "static_continuous", "temporal_categorical", "static_categorical")
        }
        train = frame.filter(train_mask)
        cats = groups["temporal_categorical"] + groups["static_categorical"]
        levels = {c: sorted(train.get_column(c).cast(pl.String).unique().drop_nulls().to_list()) for c in cats}
        conts = groups["temporal_continuous"] + groups["static_continuous"]
        stats = train.select(
            [pl.col(c).cast(pl.Float64).mean().alias(f"m_{c}") for c in conts]
            + [pl.col(c).cast(pl.Float64).std().alias(f"s_{c}") for c in conts]
        ).row(0, named=True)
        return cls(
            **groups,
            levels=levels,
            mean={c: float(stats[f"m_{c}"] or 0.0) for c in conts},
            std={c: float(stats[f"s_{c}"] or 1.0) or 1.0 for c in conts},
        )

    def cardinalities(self, columns: list[str]) -> tuple[int, ...]:
        return tuple(len(self.levels[c]) + 1 for c in columns)

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


def _codes(frame: pl.DataFrame, column: str, levels: list[str]) -> np.ndarray:
    mapping = pl.DataFrame({column: levels, "__code": np.arange(1, len(levels) + 1)}, schema={column: pl.String, "__code": pl.Int64})
    return (
        frame.select(pl.col(column).cast(pl.String))
        .join(mapping, on=column, how="left", maintain_order="left")
        .get_column("__code")
        .fill_null(0)
        .to_numpy()
    )


def to_tensors(frame: pl.DataFrame, enc: Encoders) -> SequenceTensors:
    """frame: panel rows of whole pairs (every period of each pair)."""
    frame = frame.sort("customer_id", "item_id", "period")
    periods = np.sort(frame.get_column("period").unique().to_numpy())
    T = periods.size
    P = frame.height // T
    if P * T != frame.height:
        raise ValueError("The panel must have every period of each pair; got a ragged frame.")

    def cont(cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros((frame.height, 0), dtype=np.float32)
        return frame.select([((pl.col(c).cast(pl.Float64) - enc.mean[c]) / enc.std[c]).cast(pl.Float32) for c in cols]).to_numpy()

    def cat(cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros((frame.height, 0), dtype=np.int64)
        return np.stack([_codes(frame, c, enc.levels[c]) for c in cols], axis=1).astype(np.int64)

    first = np.arange(P) * T  # static features: the pair's first row
    return SequenceTensors(
        tc=cont(enc.temporal_continuous).reshape(P, T, -1),
        tcat=cat(enc.temporal_categorical).reshape(P, T, -1),
        sc=cont(enc.static_continuous)[first],
        scat=cat(enc.static_categorical)[first],
        y=frame.get_column("target").fill_null(0).to_numpy().astype(np.float32).reshape(P, T),  # future: no label, never in a loss
        period=periods,
        keys=frame.select("customer_id", "item_id", "category", "relevant_from_fold").gather(first),
    )
