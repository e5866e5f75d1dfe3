"""Elasticity per category and consumer-item (paper §3.3) from the paper's and the counterfactual route.

Route `model_at_historical_offers` (the paper's): the model's probabilities in the cutoff period
(the last one with data) against the offers the pairs faced then, as means per 5 %-point offer bin,
fitted by a weighted sigmoid. Route `counterfactual`: every pair's decided-period row re-scored
across an offer grid; the sigmoid is fitted to the mean curve, and each pair keeps its own logit
slope. Nothing realised in the decided period is used: its offer is the decision variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import io
from offerwise.elasticity.curves import at_offer, pair_slopes, response_curves
from offerwise.elasticity.sigmoid import elasticity, fit_sigmoid, sigmoid
from offerwise.model.scoring import OFFER_GRID
from offerwise.model.stack import POOLED, stack_logit
from offerwise.model.tcn import TCNModel
from offerwise.model.tensors import to_tensors
from offerwise.probability import clipped_logit, expit

BIN = 5.0


def _fit_row(category: str, source: str, x, y, w, n) -> dict:
    try:
        fit = fit_sigmoid(x, y, w, n=n)
        return {"category": category, "source": source, "a": fit.a, "b": fit.b, "r2": fit.r2, "n": n}
    except (ValueError, RuntimeError) as exc:  # e.g. a category whose offers never vary
        return {"category": category, "source": source, "a": float("nan"), "b": float("nan"), "r2": float("nan"), "n": n, "note": str(exc)}


@dataclass
class PairScores:
    """The model's view of one category's pairs at a decision (sorted by customer_id, item_id):
    probabilities in the decided and cutoff periods, the offers there, and each pair's response
    curve over the offer grid. Per shard, then `combine`d: the fits need all of a category's pairs."""

    keys: pl.DataFrame  # customer_id, item_id, category
    prob: np.ndarray
    prob_cutoff: np.ndarray
    offers: np.ndarray
    cutoff_offers: np.ndarray
    curves: np.ndarray  # (pairs, grid)

    @classmethod
    def combine(cls, parts: list[PairScores]) -> PairScores:
        """Shards' scores in the order of the whole category's (customer_id, item_id)."""
        keys = pl.concat([p.keys for p in parts])
        order = keys.with_row_index("i").sort("customer_id", "item_id").get_column("i").to_numpy()
        arrays = {
            name: np.concatenate([getattr(p, name) for p in parts])[order]
            for name in ("prob", "prob_cutoff", "offers", "cutoff_offers", "curves")
        }
        return cls(keys=keys[order], **arrays)


def score_pairs(rows: pl.DataFrame, model: TCNModel, *, cutoff: int, decided: int, grid: np.ndarray = OFFER_GRID) -> PairScores:
    """rows: panel rows of one category's pairs up to the decided period (its inputs as known at the
    cutoff, see model.slices.make_slice), all of each pair's periods; any subset of the pairs."""
    t = to_tensors(rows, model.encoders)
    col, last = int(np.flatnonzero(t.period == decided)[0]), int(np.flatnonzero(t.period == cutoff)[0])
    scores, curves = response_curves(model, t, col, grid, [last, col])  # one pass: the curves and the two periods' scores
    at = lambda period: rows.filter(pl.col("period") == period).sort("customer_id", "item_id").get_column("offer_pct").to_numpy()  # noqa: E731
    return PairScores(
        keys=t.keys.select("customer_id", "item_id", "category"),
        prob=scores[:, 1],
        prob_cutoff=scores[:, 0],
        offers=at(decided),
        cutoff_offers=at(cutoff),
        curves=curves,
    )


def from_scores(s: PairScores, status_quo: pl.DataFrame, *, grid: np.ndarray = OFFER_GRID) -> tuple[list[dict], pl.DataFrame]:
    """The two sigmoid fits of a category (all its pairs' scores) and the per-pair frame: customer_id,
    item_id, category, reference_offer_pct, reference_rule, offer_pct, cutoff_offer_pct, probability,
    probability_at_reference, pair_slope, elasticity, elasticity_counterfactual, elasticity_pair."""
    category = s.keys.get_column("category").first()
    bins = (
        pl.DataFrame({"x": np.floor(s.cutoff_offers / BIN) * BIN + BIN / 2, "p": s.prob_cutoff})
        .group_by("x")
        .agg(pl.col("p").mean(), pl.len())
        .sort("x")
    )
    fits = [
        _fit_row(category, "model_at_historical_offers", bins["x"].to_numpy(), bins["p"].to_numpy(), bins["len"].to_numpy(), s.prob.size)
    ]
    fits.append(_fit_row(category, "counterfactual", grid, s.curves.mean(axis=0), None, s.curves.size))
    ref = s.keys.select("customer_id", "item_id").join(
        status_quo.select("customer_id", "item_id", "category", "reference_offer_pct", "reference_rule"),
        on=["customer_id", "item_id"],
        how="left",
        maintain_order="left",
    )
    k = ref.get_column("reference_offer_pct").to_numpy()
    f_k_pair = at_offer(s.curves, grid, k)
    slopes = pair_slopes(s.curves, grid)
    a_paper, a_cf = fits[0]["a"], fits[1]["a"]
    f_cat, f_cat_cf = sigmoid(k, a_paper, fits[0]["b"]), sigmoid(k, a_cf, fits[1]["b"])
    pairs = ref.with_columns(
        offer_pct=pl.Series(s.offers.astype(np.float64)),
        cutoff_offer_pct=pl.Series(s.cutoff_offers.astype(np.float64)),
        probability=pl.Series(s.prob.astype(np.float64)),
        probability_at_reference=pl.Series(f_k_pair.astype(np.float64)),
        pair_slope=pl.Series(slopes.astype(np.float64)),
        elasticity=pl.Series(elasticity(a_paper, k, f_cat)),  # the paper's: category a and f at k
        elasticity_counterfactual=pl.Series(elasticity(a_cf, k, f_cat_cf)),
        elasticity_pair=pl.Series(elasticity(slopes, k, f_k_pair)),
    )
    for fit, column in ((fits[0], "elasticity"), (fits[1], "elasticity_counterfactual")):
        fit["avg_elasticity"] = float(pairs.get_column(column).mean())
    fits[1]["avg_elasticity_pair"] = float(pairs.get_column("elasticity_pair").mean())
    return fits, pairs


def pair_scores_of_shard(
    rows: pl.DataFrame | Path, *, entries: list[dict], models: Path, splits: pl.DataFrame, fold: int, status_quo: pl.DataFrame
) -> dict[tuple[int, str], PairScores]:
    """PairScores per (entry position, category) for the decision `fold` of the panel rows given (a
    frame, or one shard's Parquet file)."""
    from offerwise.model.slices import make_slice

    out: dict[tuple[int, str], PairScores] = {}
    frame = (
        io.read_parquet(rows, rerun=io.rerun("prepare", rows.parents[2])) if isinstance(rows, Path) else rows
    )  # a shard task reads its own shard
    for i, entry in enumerate(entries):
        sl = make_slice(frame, splits, fold, entry["category"], status_quo)
        if sl.frame.height == 0:
            continue
        model = TCNModel.load(models / entry["dir"] / "tcn.pt")
        for (category,), rows in sl.frame.group_by("category", maintain_order=True):
            out[(i, category)] = score_pairs(rows, model, cutoff=sl.validation, decided=sl.test)
    return out


def pair_scores_of_curves(curves: pl.DataFrame, *, entries: list[dict], fold: int) -> dict[tuple[int, str], PairScores]:
    """What `pair_scores_of_shard` computes for decision `fold`, from the curves evaluate's scoring pass
    wrote (model.fit.offer_curves: one row per pair with its fold and entry dir)."""
    position = {e["dir"]: i for i, e in enumerate(entries)}
    out = {}
    for (folder, category), part in curves.filter(pl.col("fold") == fold).group_by("dir", "category", maintain_order=True):
        part = part.sort("customer_id", "item_id")
        out[(position[folder], category)] = PairScores(
            keys=part.select("customer_id", "item_id", "category"),
            prob=part.get_column("probability").to_numpy(),
            prob_cutoff=part.get_column("probability_cutoff").to_numpy(),
            offers=part.get_column("offer_pct").to_numpy(),
            cutoff_offers=part.get_column("cutoff_offer_pct").to_numpy(),
            curves=part.get_column("curve").to_numpy(),
        )
    return out


def stacked(pairs: pl.DataFrame, weights: pl.DataFrame, lightgbm: pl.DataFrame) -> pl.DataFrame:
    """The stack's probabilities with the response model's slope: each pair's probability at its
    status quo offer is the stack's, logit p = w_tcn · logit p_tcn + w_lgbm · logit p_lgbm + c
    (weights fitted on validation, model.stack.stack_logit), and the offer response around it stays
    the response model's, logit p(o) = logit p_stack(k) + slope · (o − k). Scaling the slope by
    w_tcn instead would let a weak TCN erase the offer effect; the response stays monotone wherever
    slope >= 0. weights: the fold's stack_weights rows; lightgbm: customer_id, item_id, p_lightgbm."""
    own = weights.filter(pl.col("category") == pairs.get_column("category").first())
    w = (own if own.height else weights.filter(pl.col("category") == POOLED)).row(0, named=True)
    out = pairs.join(lightgbm, on=["customer_id", "item_id"], how="left")
    lgbm = clipped_logit(out.get_column("p_lightgbm").to_numpy())
    at = lambda column: pl.Series(expit(stack_logit(clipped_logit(out.get_column(column).to_numpy()), lgbm, w))).fill_nan(None)  # noqa: E731
    out = out.with_columns(probability=at("probability"), probability_at_reference=at("probability_at_reference"))
    k, f = out.get_column("reference_offer_pct").to_numpy(), out.get_column("probability_at_reference").to_numpy()
    return out.with_columns(elasticity_pair=pl.Series(elasticity(out.get_column("pair_slope").to_numpy(), k, f))).drop("p_lightgbm")
