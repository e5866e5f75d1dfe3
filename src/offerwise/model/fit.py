"""Train and score every category and fold: TCN, LightGBM and the recency/frequency rule."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import io
from offerwise.columns import OFFER
from offerwise.config import ModelConfig, RuntimeConfig
from offerwise.errors import InputError
from offerwise.features.manifest import Feature
from offerwise.model.baselines import LightGBMBaseline, RecencyFrequencyRule
from offerwise.model.metrics import average_precision, bce, roc_auc
from offerwise.model.scoring import OFFER_GRID
from offerwise.model.slices import Slice, decided_validation, fit_encoders, make_slice, raw_matrix, slice_tensors, split_masks
from offerwise.model.tcn import TCNModel
from offerwise.model.tensors import to_tensors


def train_slice(
    sl: Slice,
    features: list[Feature],
    cfg: ModelConfig,
    out: Path,
    *,
    progress: bool = True,
    runtime: RuntimeConfig | None = None,
    shards: list[Path] | None = None,
    slicer: Callable[[pl.DataFrame], Slice] | None = None,
) -> dict[str, object]:
    """Fit the three models on one slice and save them under `out`; the TCN on Ray Train when
    cfg.train_workers > 0 (on the cluster `runtime` names), each worker reading its own panel
    `shards` through `slicer` (rows -> this slice) when given."""
    enc = fit_encoders(sl, features, cfg)
    t, m = slice_tensors(sl, enc)
    if not m["train"].any():
        raise InputError(
            f"No training row in {out.name}: no pair had {sl.min_orders} order periods before a training period "
            "(model.train_rows = 'eligible'). Use more training periods (panel.train_periods), a lower panel.min_purchases, "
            "or model.train_rows = 'all'."
        )
    tcn = TCNModel(config=cfg, encoders=enc)
    if cfg.train_workers:
        from offerwise.model.distributed import fit_distributed

        tcn = fit_distributed(
            tcn,
            t,
            m["train"],
            m["validation"],
            workers=cfg.train_workers,
            storage=out / "ray-train",
            runtime=runtime,
            shards=shards,
            slicer=slicer,
        )
        shutil.rmtree(out / "ray-train", ignore_errors=True)  # Ray Train's run folder: the checkpoint below is the model
    else:
        tcn = tcn.fit(t, m["train"], m["validation"], progress=progress)
    tcn.save(out / "tcn.pt", features=[f.as_dict() for f in features])
    ids = [j for j, c in enumerate(enc.static_categorical) if c in ("customer_id", "item_id")]
    LightGBMBaseline(config=cfg, id_columns=ids).fit(t, m["train"], m["validation"]).save(out / "lightgbm.json")
    RecencyFrequencyRule().fit(
        raw_matrix(sl, "ci_periods_since_last", t.y.shape), raw_matrix(sl, "ci_order_frequency", t.y.shape), t.y, m["train"]
    ).save(out / "rule.json")
    io.write_json({"train_periods": sl.train_periods, "validation": sl.validation, "test": sl.test}, out / "slice.json")
    return {"chosen": tcn.chosen_, "selection": tcn.selection_, "epochs": len(tcn.history_), "calibration_shift": tcn.calibration_shift_}


def predict_slice(sl: Slice, models: Path) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Score validation and test rows with the saved models (no training data needed beyond inputs).

    Returns the predictions: customer_id, item_id, category, period, split, model, probability,
    label; and, from the same TCN pass, the decided period's offer curves (`offer_curves`; None for a
    model without an offer input).
    """
    tcn, lgb = TCNModel.load(models / "tcn.pt"), LightGBMBaseline.load(models / "lightgbm.json")
    t = to_tensors(sl.frame, tcn.encoders)
    m = split_masks(t, sl)
    columns = {split: int(np.flatnonzero(m[split][0])[0]) for split in ("validation", "test")}
    v, test = columns["validation"], columns["test"]
    decided = decided_validation(sl, tcn.encoders)
    varied = [] if decided is None else [(v, lambda idx: [(decided.tc[idx, 0], decided.tcat[idx, 0])])]
    with_curves = OFFER in tcn.encoders.temporal_continuous
    if with_curves:
        varied.append((test, tcn.offer_variants(t, test, OFFER_GRID)))
    # One pass: the decided period with realised history, the validation period with its inputs as decided,
    # and the decided period at each offer of the grid.
    observed, changed = tcn.predict_columns(t, [v, test], varied=varied)
    scores = {"tcn": {v: observed[:, 0] if decided is None else changed[:, 0], test: observed[:, 1]}}
    if decided is not None:  # LightGBM is a row model: the decided period's row never reads the validation period's
        t.tc[:, v], t.tcat[:, v] = decided.tc[:, 0], decided.tcat[:, 0]
    lightgbm = lgb.predict_proba(t, [v, test])
    rule = RecencyFrequencyRule.load(models / "rule.json").predict_proba(
        raw_matrix(sl, "ci_periods_since_last", t.y.shape), raw_matrix(sl, "ci_order_frequency", t.y.shape)
    )
    scores |= {"lightgbm": {c: lightgbm[:, c] for c in (v, test)}, "recency_frequency": {c: rule[:, c] for c in (v, test)}}
    keys = t.keys
    parts = []
    for split, col in columns.items():
        labels = sl.frame.select(pl.col("target").filter(pl.col("period") == int(t.period[col]))).to_series()  # null in the future period
        for name, p in scores.items():
            parts.append(
                keys.select("customer_id", "item_id", "category").with_columns(
                    period=pl.lit(int(t.period[col]), pl.Int32),
                    split=pl.lit(split),
                    model=pl.lit(name),
                    probability=pl.Series(p[col].astype(np.float64)),
                    label=labels,
                )
            )
    curves = offer_curves(sl, observed, changed[:, -OFFER_GRID.size :]) if with_curves else None
    return pl.concat(parts), curves


def offer_curves(sl: Slice, observed: np.ndarray, curves: np.ndarray) -> pl.DataFrame:
    """The slice's pairs (in pair order) with what the elasticity stage reads of the decided period
    (elasticity.scores.PairScores): customer_id, item_id, category, probability (TCN, inputs as decided)
    and probability_cutoff (TCN, the cutoff period as it happened), offer_pct and cutoff_offer_pct, and
    curve: the decided period's probability at each offer of OFFER_GRID. observed: (P, 2) the TCN at
    the cutoff and decided periods; curves: (P, grid)."""
    columns = ["customer_id", "item_id", "category", "period", OFFER]  # of the slice's ~120: a filter copies only these
    at = lambda period: sl.frame.select(columns).filter(pl.col("period") == period).sort("customer_id", "item_id")  # noqa: E731
    decided, cutoff = at(sl.test), at(sl.validation)
    return decided.select(
        "customer_id",
        "item_id",
        "category",
        probability=pl.Series(observed[:, 1]),
        probability_cutoff=pl.Series(observed[:, 0]),
        offer_pct=pl.col(OFFER),
        cutoff_offer_pct=cutoff.get_column(OFFER),
        curve=pl.Series(curves).cast(pl.Array(pl.Float32, OFFER_GRID.size)),
    )


SCORE_ORDER = {"split": ["validation", "test"], "model": ["tcn", "lightgbm", "recency_frequency"]}


def predictions_of_shard(
    rows: pl.DataFrame | Path,
    *,
    entries: list[dict],
    models: Path,
    splits: pl.DataFrame,
    status_quo: pl.DataFrame,
    validation_sq: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Predictions of every trained entry (fold, category, dir) for the panel rows given (a frame,
    or one shard's Parquet file), with `entry` = the entry's position, for `score_rows`. Both the
    validation and the decided period are scored with inputs as known at their cutoffs
    (`validation_sq`: prepare's status quo at each cutoff, fold column included). Also returns the
    decided periods' offer curves (`offer_curves`, with the entry's fold and dir; empty without)."""
    if isinstance(rows, Path):  # <prepared>/panel/shard=k/part.parquet
        frame = io.read_parquet(rows, rerun=io.rerun("prepare", rows.parents[2]))
    else:
        frame = rows
    of_fold = lambda table, fold: None if table is None else table.filter(pl.col("fold") == fold).drop("fold")  # noqa: E731
    parts, curves = [], []
    for i, entry in enumerate(entries):
        fold = entry["fold"]
        sl = make_slice(
            frame,
            splits,
            fold,
            entry["category"],
            of_fold(status_quo, fold),
            validation_as_decided=True,
            validation_sq=of_fold(validation_sq, fold),
        )
        if sl.frame.height:
            predicted, curve = predict_slice(sl, models / entry["dir"])
            parts.append(predicted.with_columns(fold=pl.lit(fold, pl.Int32), entry=pl.lit(i)))
            if curve is not None:
                curves.append(curve.with_columns(fold=pl.lit(fold, pl.Int32), dir=pl.lit(entry["dir"])))
    return (pl.concat(parts) if parts else pl.DataFrame()), (pl.concat(curves) if curves else pl.DataFrame())


def score_rows(predictions: pl.DataFrame) -> pl.DataFrame:
    """Shards' predictions in the order of the whole panel's: entry, split, model, pair."""
    ranks = [pl.col(c).replace_strict(order, list(range(len(order))), return_dtype=pl.Int32) for c, order in SCORE_ORDER.items()]
    return predictions.sort([pl.col("entry"), *ranks, pl.col("customer_id"), pl.col("item_id")], maintain_order=True).drop("entry")


def metrics_table(predictions: pl.DataFrame) -> pl.DataFrame:
    """Columns: fold, category, model, split, rows, positives, bce, roc_auc, pr_auc (labelled rows only:
    the forward fold's decided period has not happened)."""
    rows = []
    for key, group in predictions.drop_nulls("label").group_by("fold", "category", "model", "split", maintain_order=True):
        y, p = group.get_column("label").to_numpy(), group.get_column("probability").to_numpy()
        rows.append(
            dict(zip(("fold", "category", "model", "split"), key))
            | {
                "rows": y.size,
                "positives": int(y.sum()),
                "bce": bce(y, p),
                "roc_auc": roc_auc(y, p),
                "pr_auc": average_precision(y, p),
            }
        )
    return pl.DataFrame(rows).sort("fold", "category", "split", "model")
