"""Train and evaluate every category and fold: TCN, LightGBM and the recency/frequency rule."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import io
from offerwise.config import ModelConfig, RuntimeConfig
from offerwise.elasticity.reference import rule_of
from offerwise.errors import InputError
from offerwise.features.manifest import Feature
from offerwise.model.baselines import LightGBMBaseline, RecencyFrequencyRule
from offerwise.model.metrics import average_precision, bce, roc_auc
from offerwise.model.tcn import OFFER, TCNModel
from offerwise.model.tensors import Encoders, SequenceTensors, to_tensors

ALL = "__all__"
PAIR = ["customer_id", "item_id"]  # the shared model's "category": no real category can take it (slugs of categories carry a hash)


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
    variable's baseline), and the other retailer-set inputs (display, mailer, coupon exposure) are the
    cutoff period's. Nothing realised in the decided period reaches a prediction.

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
    rows = frame.filter((pl.col("relevant_from_fold") <= fold) & (pl.col("period") <= test))
    if category != ALL:
        rows = rows.filter(pl.col("category") == category)
    # Sorted once here in the tensors' pair-major order, so raw columns reshape without re-sorting.
    rows = rows.sort("customer_id", "item_id", "period")
    validation, validation_rows = int(period("validation").item()), None
    if status_quo is not None:
        rows = _decided_inputs(rows, test, status_quo)
    if status_quo is not None and validation_as_decided:
        sq = validation_sq if validation_sq is not None else validation_status_quo(rows, validation, status_quo, rule_of(status_quo))
        decided = _decided_inputs(rows.filter(pl.col("period") <= validation), validation, sq)
        validation_rows = decided.filter(pl.col("period") == validation)
    return Slice(rows, period("train").to_list(), validation, test, validation_rows, min_orders)


def validation_status_quo(rows: pl.DataFrame, validation: int, status_quo: pl.DataFrame, rule: str = "recent_offers") -> pl.DataFrame:
    """The status quo offer of each pair at the validation period, by the decided period's rule: the
    offer the retailer ran there where the decided period's status quo is its plan (reference_rule
    "planned": a record of offers run), else the unplanned status quo (`rule`, panel.status_quo_rule)
    from the periods before it.

    Columns: customer_id, item_id, reference_offer_pct.
    """
    from offerwise.elasticity.reference import unplanned_offers
    from offerwise.pipeline import age_column

    rows = rows.filter(pl.col("period") <= validation)
    reference = unplanned_offers(rows, validation, age_column=age_column(rows), rule=rule).select(PAIR + ["reference_offer_pct"])
    if "reference_rule" not in status_quo.columns:
        return reference
    planned = status_quo.filter(pl.col("reference_rule") == "planned").select(PAIR)
    ran = rows.filter(pl.col("period") == validation).join(planned, on=PAIR).select(*PAIR, __ran=pl.col("offer_pct").cast(pl.Float64))
    return (
        reference.join(ran, on=PAIR, how="left")
        .with_columns(reference_offer_pct=pl.coalesce("__ran", "reference_offer_pct"))
        .select(PAIR + ["reference_offer_pct"])
    )


PLANNED_INPUTS = ("display", "mailer", "coupon_exposure")  # retailer-set, known in advance, not decided here


def _decided_inputs(rows: pl.DataFrame, test: int, status_quo: pl.DataFrame) -> pl.DataFrame:
    decided = pl.col("period") == test
    offers = status_quo.select("customer_id", "item_id", __sq=pl.col("reference_offer_pct").cast(rows.schema["offer_pct"]))
    rows = rows.join(offers, on=["customer_id", "item_id"], how="left", maintain_order="left")
    carried = [
        pl.when(decided).then(pl.col(c).shift(1).over("customer_id", "item_id")).otherwise(pl.col(c)).alias(c)
        for c in PLANNED_INPUTS
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
    return _raw(sl, "ci_orders", shape) >= sl.min_orders


def _masks(t, sl: Slice) -> dict[str, np.ndarray]:
    P = t.y.shape[0]
    col = lambda cond: np.broadcast_to(cond[None, :], (P, t.period.size))  # noqa: E731
    return {
        "train": col(np.isin(t.period, sl.train_periods)) & eligible_rows(sl, t.y.shape),
        "validation": col(t.period == sl.validation),
        "test": col(t.period == sl.test),
    }


def _validation_as_decided(t: SequenceTensors, sl: Slice, enc: Encoders) -> SequenceTensors:
    """t with the validation period's inputs replaced, in place, by sl.validation_rows' (if any).
    Columns after the validation period then see those inputs as history: score the decided period first."""
    if sl.validation_rows is not None:
        col = int(np.flatnonzero(t.period == sl.validation)[0])
        rows = to_tensors(sl.validation_rows, enc)  # same pairs, same order, one period
        t.tc[:, col], t.tcat[:, col] = rows.tc[:, 0], rows.tcat[:, 0]
    return t


def fit_encoders(sl: Slice, features: list[Feature], cfg: ModelConfig) -> Encoders:
    """The encoders a slice's models train with: statistics of its training periods, the consumer id
    as cfg.customer_buckets says, the offer never clipped (its term stays linear in the offer)."""
    train = pl.col("period").is_in(sl.train_periods)
    return Encoders.fit(sl.frame, features, train, hashed={"customer_id": cfg.customer_buckets}, clip=cfg.input_clip, linear=[OFFER])


def slice_tensors(sl: Slice, enc: Encoders) -> tuple[SequenceTensors, dict[str, np.ndarray]]:
    """A slice's tensors (validation inputs as decided) and its train / validation / test masks."""
    t = _validation_as_decided(to_tensors(sl.frame, enc), sl, enc)  # the decided period is never in a loss
    return t, _masks(t, sl)


def _raw(sl: Slice, column: str, shape: tuple[int, int]) -> np.ndarray:
    return sl.frame.get_column(column).to_numpy().reshape(shape)


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
        _raw(sl, "ci_periods_since_last", t.y.shape), _raw(sl, "ci_order_frequency", t.y.shape), t.y, m["train"]
    ).save(out / "rule.json")
    io.write_json({"train_periods": sl.train_periods, "validation": sl.validation, "test": sl.test}, out / "slice.json")
    return {"chosen": tcn.chosen_, "selection": tcn.selection_, "epochs": len(tcn.history_), "calibration_shift": tcn.calibration_shift_}


def predict_slice(sl: Slice, models: Path) -> pl.DataFrame:
    """Score validation and test rows with the saved models (no training data needed beyond inputs).

    Columns: customer_id, item_id, category, period, split, model, probability, label.
    """
    tcn, lgb = TCNModel.load(models / "tcn.pt"), LightGBMBaseline.load(models / "lightgbm.json")
    t = to_tensors(sl.frame, tcn.encoders)
    m = _masks(t, sl)
    scores = {"tcn": tcn.predict_proba(t), "lightgbm": lgb.predict_proba(t)}  # the decided period, with realised history
    if sl.validation_rows is not None:
        v = m["validation"][0]
        t = _validation_as_decided(t, sl, tcn.encoders)
        scores["tcn"][:, v], scores["lightgbm"][:, v] = tcn.predict_proba(t)[:, v], lgb.predict_proba(t)[:, v]
    scores["recency_frequency"] = RecencyFrequencyRule.load(models / "rule.json").predict_proba(
        _raw(sl, "ci_periods_since_last", t.y.shape), _raw(sl, "ci_order_frequency", t.y.shape)
    )
    keys = t.keys
    parts = []
    for split in ("validation", "test"):
        col = int(np.flatnonzero(m[split][0])[0])
        labels = sl.frame.filter(pl.col("period") == int(t.period[col])).get_column("target")  # null in the future period
        for name, p in scores.items():
            parts.append(
                keys.select("customer_id", "item_id", "category").with_columns(
                    period=pl.lit(int(t.period[col]), pl.Int32),
                    split=pl.lit(split),
                    model=pl.lit(name),
                    probability=pl.Series(p[:, col].astype(np.float64)),
                    label=labels,
                )
            )
    return pl.concat(parts)


SCORE_ORDER = {"split": ["validation", "test"], "model": ["tcn", "lightgbm", "recency_frequency"]}


def score_shard(
    rows: pl.DataFrame | Path,
    *,
    entries: list[dict],
    models: Path,
    splits: pl.DataFrame,
    status_quo: pl.DataFrame,
    validation_sq: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Predictions of every trained entry (fold, category, dir) for the panel rows given (a frame,
    or one shard's Parquet file), with `entry` = the entry's position, for `score_rows`. Both the
    validation and the decided period are scored with inputs as known at their cutoffs
    (`validation_sq`: prepare's status quo at each cutoff, fold column included)."""
    if isinstance(rows, Path):  # <prepared>/panel/shard=k/part.parquet
        from offerwise import io

        frame = io.read_parquet(rows, rerun=io.rerun("prepare", rows.parents[2]))
    else:
        frame = rows
    of_fold = lambda table, fold: None if table is None else table.filter(pl.col("fold") == fold).drop("fold")  # noqa: E731
    parts = []
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
            parts.append(predict_slice(sl, models / entry["dir"]).with_columns(fold=pl.lit(fold, pl.Int32), entry=pl.lit(i)))
    return pl.concat(parts) if parts else pl.DataFrame()


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
