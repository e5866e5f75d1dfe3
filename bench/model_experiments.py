"""Cheap TCN experiments on a prepared panel: one fold, a few categories, several model-config variants.

Trains the TCN and LightGBM per variant on the same slice (the shared model over the chosen
categories), and scores the fold's validation period and its decided period at the status quo
inputs (as `offerwise evaluate` does). Prints per-epoch learning
curves and per-category BCE and mean probability, and writes them to a JSON file.

    python bench/model_experiments.py --prepared results-work/models/prepared --fold 2 \
        --categories "PRODUCE,DRUG GM,MEAT" --variants '{"base": {}, "no_calibration": {"calibrate": "none"}}'

A variant is a dict of [model] config overrides applied to configs/make-run.toml's; the key
"drop_features" (a list of feature names) leaves features out of both models' inputs, and
"validation_as_decided": true builds the validation period's inputs as the decided period's
(model.slices.make_slice). The stack of the variant's TCN and LightGBM is fitted on validation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import pipeline
from offerwise.config import Config
from offerwise.model.baselines import LightGBMBaseline
from offerwise.model.metrics import bce
from offerwise.model.slices import ALL, fit_encoders, make_slice, slice_tensors
from offerwise.model.stack import apply_stack, fit_stack
from offerwise.model.tcn import TCNModel


def _scores(name: str, p: np.ndarray, t, m: dict, cats: np.ndarray) -> list[dict]:
    rows = []
    for split in ("validation", "test"):
        col = int(np.flatnonzero(m[split][0])[0])
        for cat in [*np.unique(cats), "all"]:
            sel = np.ones(cats.size, bool) if cat == "all" else cats == cat
            y, q = t.y[sel, col], p[sel, col]
            rows.append({"model": name, "split": split, "category": str(cat), "bce": bce(y, q), "p": float(q.mean()), "y": float(y.mean())})
    return rows


def _stack(p: np.ndarray, q: np.ndarray, t, m: dict) -> np.ndarray:
    """The stack fitted on the validation column, applied to every column: (P, T)."""
    parts = []
    for split in ("validation", "test"):
        col = int(np.flatnonzero(m[split][0])[0])
        for model, probs in (("tcn", p), ("lightgbm", q)):
            parts.append(
                t.keys.select("customer_id", "item_id", "category").with_columns(
                    period=pl.lit(col),
                    split=pl.lit(split),
                    model=pl.lit(model),
                    probability=pl.Series(probs[:, col].astype(np.float64)),
                    label=pl.Series(t.y[:, col]),
                )
            )
    predictions = pl.concat(parts)
    stacked = apply_stack(predictions, fit_stack(predictions))
    out = np.full(p.shape, np.nan)
    for split in ("validation", "test"):
        col = int(np.flatnonzero(m[split][0])[0])
        part = t.keys.select("customer_id", "item_id").join(
            stacked.filter(pl.col("split") == split).select("customer_id", "item_id", "probability"),
            on=["customer_id", "item_id"],
            how="left",
            maintain_order="left",
        )
        out[:, col] = part.get_column("probability").to_numpy()
    return out


def training_tensors(prep, frame: pl.DataFrame, fold: int, cfg, features: list, *, validation_as_decided: bool):
    """A fold's encoders, tensors and masks as the pipeline trains (validation inputs as decided when asked for)."""
    sl = make_slice(
        frame,
        prep.splits,
        fold,
        ALL,
        prep.status_quo_of(fold),
        validation_as_decided=validation_as_decided,
        validation_sq=prep.validation_sq_of(fold),
        min_orders=prep.min_orders(cfg),
    )
    enc = fit_encoders(sl, features, cfg)
    t, m = slice_tensors(sl, enc)
    return enc, t, m


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepared", type=Path, default=Path("results-work/models/prepared"))
    parser.add_argument("--fold", type=int, default=2)
    parser.add_argument("--categories", default="PRODUCE,DRUG GM,MEAT")
    parser.add_argument("--config", type=Path, default=Path("configs/make-run.toml"))
    parser.add_argument("--variants", default='{"base": {}}')
    parser.add_argument("--out", type=Path, default=Path("results-work/model-experiments.json"))
    args = parser.parse_args()
    cfg = Config.from_toml(args.config).model
    prep = pipeline.read_prepared(args.prepared)
    frame = prep.frame if args.categories == ALL else prep.frame.filter(pl.col("category").is_in(args.categories.split(",")))
    results = []
    for name, overrides in json.loads(args.variants).items():
        overrides = dict(overrides)
        drop = set(overrides.pop("drop_features", []))
        as_decided = bool(overrides.pop("validation_as_decided", False))
        features = [f for f in prep.features if f.name not in drop]
        vcfg = cfg.model_validate({**cfg.model_dump(), **overrides})
        enc, t, m = training_tensors(prep, frame, args.fold, vcfg, features, validation_as_decided=as_decided)
        cats = t.keys.get_column("category").to_numpy()
        started = time.perf_counter()
        tcn = TCNModel(config=vcfg, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
        seconds = time.perf_counter() - started
        ids = [j for j, c in enumerate(enc.static_categorical) if c in ("customer_id", "item_id")]
        lgb = LightGBMBaseline(config=vcfg, id_columns=ids).fit(t, m["train"], m["validation"])
        p, q = tcn.predict_proba(t), lgb.predict_proba(t)
        rows = (
            _scores(name, p, t, m, cats)
            + _scores(f"lightgbm-{name}", q, t, m, cats)
            + _scores(f"stack-{name}", _stack(p, q, t, m), t, m, cats)
        )
        results.append(
            {
                "variant": name,
                "overrides": overrides,
                "drop": sorted(drop),
                "seconds": seconds,
                "history": tcn.history_,
                "chosen": tcn.chosen_,
                "calibration_shift": tcn.calibration_shift_,
                "scores": rows,
            }
        )
        print(f"== {name}: {seconds:.0f} s, chosen {tcn.chosen_}, shift {tcn.calibration_shift_:+.3f}", flush=True)
        for h in tcn.history_:
            print(f"   epoch {h['epoch']}: train {h['train_bce']:.4f} val {h['val_bce']:.4f} ({h['seconds']:.0f} s)", flush=True)
        with pl.Config(tbl_rows=60, float_precision=4):
            print(pl.DataFrame(rows).filter(pl.col("split") == "test"), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"fold": args.fold, "categories": args.categories, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
