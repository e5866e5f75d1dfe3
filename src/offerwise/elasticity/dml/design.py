"""The estimate's rows: the labelled window up to the cutoff (sampled by category), the controls X
and their matrix, the outcome Y and the offer T, and the item-history controls joined to them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from offerwise.columns import OFFER, OFFER_DESIGN
from offerwise.features.manifest import Feature

OUTCOME = "target"
MAX_CATEGORICAL_LEVELS = 255  # string / categorical controls with more levels are text: dropped


@dataclass(frozen=True)
class Design:
    """What the estimate fits on, one entry per row of `window` (n rows)."""

    window: pl.DataFrame  # the rows, sorted by category, consumer, item and period, item history joined
    controls: list[str]  # the columns of W
    W: np.ndarray  # (n, controls) float32 control matrix
    Y: np.ndarray  # (n,) outcome (bought)
    T: np.ndarray  # (n,) offer points

    @cached_property
    def design_mean(self) -> np.ndarray:
        """(n,) the randomised design's mean offer where a design drew the row's offer (offer_history's
        expected_offer_pct), NaN elsewhere: there E[T | pair] is known, not estimated."""
        if OFFER_DESIGN not in self.window.columns:
            return np.full(self.T.size, np.nan)
        return self.window.get_column(OFFER_DESIGN).cast(pl.Float64).fill_null(np.nan).to_numpy()

    @cached_property
    def items(self) -> np.ndarray:
        """(n,) item ids: the clusters of the folds and of the standard errors."""
        return self.window.get_column("item_id").to_numpy()

    @cached_property
    def cats(self) -> np.ndarray:
        """(n,) category names."""
        return self.window.get_column("category").to_numpy()

    @cached_property
    def masks(self) -> dict[str, np.ndarray]:
        """Each category (sorted) -> (n,) its rows."""
        return {c: self.cats == c for c in (str(c) for c in np.unique(self.cats))}


def _window(rows: pl.DataFrame, cutoff: int, periods: int) -> pl.DataFrame:
    """Labelled rows of periods (cutoff − periods, cutoff]; nothing after the cutoff."""
    return rows.filter((pl.col("period") > cutoff - periods) & (pl.col("period") <= cutoff) & pl.col(OUTCOME).is_not_null())


def _subsample(rows: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """At most max_rows rows, stratified by category: every category keeps min(its rows, cap), the cap
    the largest that fits, so small categories keep all their rows (seeded); randomised rows all stay."""
    if rows.height <= max_rows:
        return rows
    if OFFER_DESIGN in rows.columns:  # randomised rows are few and the cleanest evidence: all kept
        randomised = pl.col(OFFER_DESIGN).is_not_null()
        kept = rows.filter(randomised)
        return pl.concat(
            [
                kept,
                _subsample(rows.filter(~randomised).drop(OFFER_DESIGN), max(max_rows - kept.height, 1), seed).with_columns(
                    pl.lit(None, rows.schema[OFFER_DESIGN]).alias(OFFER_DESIGN)
                ),
            ],
            how="diagonal_relaxed",
        )
    n = np.sort(rows.group_by("category").len().get_column("len").to_numpy())
    cap, left = max_rows, max_rows
    for k, size in enumerate(n):
        share = left // (n.size - k)
        if size > share:
            cap = share
            break
        left -= int(size)
    u = pl.Series("__u", np.random.default_rng(seed).random(rows.height))
    return rows.with_columns(u).filter(pl.col("__u").rank("ordinal").over("category") <= cap).drop("__u")


def _selected_rows(rows: pl.DataFrame, cutoff: int, periods: int, max_rows: int, seed: int) -> np.ndarray:
    """Indices of the rows _subsample(_window(...)) keeps, in its order: found on the few columns the
    two read, so that only the kept rows of the wide panel are copied (a filter copies every column)."""
    narrow = rows.select(pl.col(c) for c in ("period", OUTCOME, "category", OFFER_DESIGN) if c in rows.columns)
    kept = _subsample(_window(narrow.with_row_index("__index"), cutoff, periods), max_rows, seed)
    return kept.get_column("__index").to_numpy()


def control_columns(rows: pl.DataFrame, features: list[Feature]) -> list[str]:
    """Every feature except the offer, the ids and text (strings with many levels)."""
    out = []
    for f in features:
        if f.name == OFFER or f.is_id or f.name not in rows.columns:
            continue
        if _is_text(rows.schema[f.name]) and rows.get_column(f.name).n_unique() > MAX_CATEGORICAL_LEVELS:
            continue
        out.append(f.name)
    return out


def _is_text(dtype) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _control_matrix(rows: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float32 matrix for LightGBM: numerics as they are (nulls NaN), categoricals as integer codes
    (dense rank of the level's text)."""
    exprs = [
        (pl.col(c).cast(pl.String).rank("dense") if _is_text(rows.schema[c]) else pl.col(c)).cast(pl.Float32).alias(c) for c in columns
    ]
    return rows.select(exprs).to_numpy().astype(np.float32)


def item_history(rows: pl.DataFrame, cutoff: int) -> pl.DataFrame:
    """Derived item controls per (item_id, period), each from before the period (offers and buyer
    counts the retailer knew when it set the period's offer; no row after the cutoff is read): the
    item's offer in t−1 and t−2, its buyers in t−1 and t−2, whether t−1 was promoted (offer above the
    item's lowest so far), its mean offer over all earlier periods, and t−1's sales surprise in
    Poisson SDs against the item's mean over all earlier periods and over earlier periods of the same
    promotion status. A retailer that marks items
    down after weak sales decides from this kind of signal; the panel's own features (i_buyers_last,
    i_buyers_mean, offer lags averaged over 2+ periods) do not state it: a first version without it
    came out 14-23 % too flat under targeted promotions on a large simulation (docs/response.md). Reads every
    row up to the cutoff, also before the estimation window, for the history."""
    empty = pl.DataFrame(schema={"item_id": rows.schema.get("item_id", pl.Int64), "period": rows.schema.get("period", pl.Int64)})
    if not {"item_id", "period", OFFER, "i_buyers_last"} <= set(rows.columns):
        return empty
    ip = (
        rows.select("item_id", "period", OFFER, "i_buyers_last")  # the four columns first: a filter copies every column it keeps
        .filter(pl.col("period") <= cutoff)
        .group_by("item_id", "period")
        .agg(offer=pl.col(OFFER).cast(pl.Float64).mean(), buyers_prev=pl.col("i_buyers_last").cast(pl.Float64).first())
    )
    if ip.height == 0:
        return empty
    items, lo, O, S = _item_period_arrays(ip)
    everyday = np.fmin.accumulate(np.where(np.isnan(O), np.inf, O), axis=1)
    promoted = O > everyday + 0.5
    out = [
        pl.DataFrame({"item_id": items, "period": np.full(items.len(), lo + t), **_history_at(O, S, promoted, t)})
        for t in range(O.shape[1])
    ]
    return pl.concat(out).with_columns(pl.col("period").cast(rows.schema["period"]))


def _item_period_arrays(ip: pl.DataFrame) -> tuple[pl.Series, int, np.ndarray, np.ndarray]:
    """ip: item_id, period, offer, buyers_prev per item-period. Returns the sorted items, the first
    period lo, and the (items, periods) matrices of offers O and buyers S (NaN where unseen)."""
    items = ip.get_column("item_id").unique().sort()
    lo, hi = int(ip.get_column("period").min()), int(ip.get_column("period").max())
    ii = items.search_sorted(ip.get_column("item_id")).to_numpy()
    pp = ip.get_column("period").to_numpy().astype(int) - lo
    O = np.full((items.len(), hi - lo + 1), np.nan)  # O[:, u]: offer in period lo + u
    O[ii, pp] = ip.get_column("offer").to_numpy()
    S = np.full_like(O, np.nan)  # S[:, u]: buyers in period lo + u, read from the rows of u + 1
    ok = pp >= 1
    S[ii[ok], pp[ok] - 1] = ip.get_column("buyers_prev").to_numpy()[ok]
    return items, lo, O, S


def _history_at(O: np.ndarray, S: np.ndarray, promoted: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """The item-history controls of period column t, from the columns before it (`item_history`)."""
    nan = np.full(O.shape[0], np.nan)
    f = {
        "ih_offer_1": O[:, t - 1] if t >= 1 else nan,
        "ih_offer_2": O[:, t - 2] if t >= 2 else nan,
        "ih_buyers_1": S[:, t - 1] if t >= 1 else nan,
        "ih_buyers_2": S[:, t - 2] if t >= 2 else nan,
        "ih_promoted_1": np.where(np.isnan(O[:, t - 1]), np.nan, promoted[:, t - 1]) if t >= 1 else nan,
        "ih_surprise": nan,
        "ih_surprise_same": nan,
        "ih_offer_mean": np.nanmean(O[:, :t], axis=1) if t >= 1 and not np.isnan(O[:, :t]).all() else nan,
    }
    if t >= 2:
        past, last = S[:, : t - 1], S[:, t - 1]
        seen = ~np.isnan(past)
        same = seen & (promoted[:, : t - 1] == promoted[:, t - 1, None])
        for name, mask in (("ih_surprise", seen), ("ih_surprise_same", same)):
            base = np.where(mask, past, 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
            f[name] = np.where(mask.any(axis=1), (last - base) / np.sqrt(base + 1), np.nan)
    return f


def design(rows: pl.DataFrame, features: list[Feature], *, cutoff: int, periods: int, max_rows: int, seed: int) -> Design:
    """What the estimate fits on: the labelled rows of periods (cutoff − periods, cutoff] (at most
    max_rows, sampled within category), sorted by category, consumer, item and period, with the item's
    promotion history joined; their control columns, control matrix W, outcome Y and offer T."""
    window = rows[_selected_rows(rows, cutoff, periods, max_rows, seed)]
    if window.height == 0:
        raise ValueError(f"no labelled rows in periods ({cutoff - periods}, {cutoff}]")
    window = window.with_columns(pl.col("category").cast(pl.String)).sort("category", "customer_id", "item_id", "period")
    history = item_history(rows, cutoff)
    window = window.join(history, on=["item_id", "period"], how="left", maintain_order="left")
    controls = control_columns(window, features) + [c for c in history.columns if c not in ("item_id", "period")]
    Y = window.get_column(OUTCOME).cast(pl.Float64).to_numpy()
    T = window.get_column(OFFER).cast(pl.Float64).fill_null(0.0).to_numpy()
    return Design(window=window, controls=controls, W=_control_matrix(window, controls), Y=Y, T=T)
