"""Experiment: where to fit the TCN's intercept shift (model.calibrate), measured offline.

Trains the TCN as `make run` does (configs/make-run.toml, every category, one shared model) on one
fold of a prepared panel without the shift, then solves the shift on the validation fortnight
plus the last k − 1 training fortnights (k = 0: no shift; k = 1: the shipped "intercept") and prints
one JSON line: per k, the shift and the decided fortnight's test BCE over the six largest
Complete Journey departments (every category elsewhere), and with a simulator's data folder the
mean absolute error to the true purchase probabilities.

    python bench/calibration_shift.py PREPARED FOLD [SIMULATOR_DATA]
    python bench/calibration_shift.py results-work/models/prepared 2
    python bench/calibration_shift.py results-work/simulator-models/seed1/prepared 0 results-work/simulator-models/seed1/data

docs/results.md (session 7) has the table; nothing is written to bench/results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from response_oracle import truth_rows  # bench/ is on the path when run as a script
from scipy.optimize import brentq
from scipy.special import expit, logit

from offerwise import pipeline
from offerwise.config import Config
from offerwise.model.metrics import bce
from offerwise.model.slices import ALL, fit_encoders, make_slice, slice_tensors
from offerwise.model.tcn import TCNModel
from offerwise.model.tensors import last_periods


def main() -> None:
    parser = argparse.ArgumentParser(description="Where to fit the TCN's intercept shift, measured offline.")
    parser.add_argument("prepared", type=Path)
    parser.add_argument("fold", type=int)
    parser.add_argument("data", type=Path, nargs="?", default=None, help="the simulation's data folder (truth)")
    args = parser.parse_args()
    prepared, fold, data = args.prepared, args.fold, args.data
    cfg = Config.from_toml(Path("configs/make-run.toml")).model.model_copy(update={"calibrate": "none"})
    prep = pipeline.read_prepared(prepared)
    sl = make_slice(
        prep.frame, prep.splits, fold, ALL, prep.status_quo_of(fold), validation_as_decided=True, validation_sq=prep.validation_sq_of(fold)
    )
    enc = fit_encoders(sl, prep.features, cfg)
    t, m = slice_tensors(sl, enc)
    tcn = TCNModel(config=cfg, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    p = tcn.predict_proba(t).astype(np.float64)
    z = logit(np.clip(p, 1e-7, 1 - 1e-7))
    test_col = int(np.flatnonzero(m["test"][0])[0])
    cats = t.keys.get_column("category").to_numpy()
    big = ["GROCERY", "PRODUCE", "DRUG GM", "MEAT-PCKGD", "MEAT", "DELI"]
    sel = np.isin(cats, big) if np.isin(cats, big).any() else np.ones(cats.size, bool)
    truth = None
    if data is not None:
        test_period = int(t.period[test_col])
        keys = t.keys.select("customer_id", "item_id").with_row_index("row")
        g = truth_rows(data, prep, sl.frame).filter(pl.col("period") == test_period).select("customer_id", "item_id", "true_probability")
        truth = keys.join(g, on=["customer_id", "item_id"], how="left").sort("row").get_column("true_probability").to_numpy()
    out = {"prepared": str(prepared), "fold": fold}
    for k in (0, 1, 2, 4, 8):
        if k == 0:
            shift = 0.0
        else:
            mask = m["validation"] | last_periods(m["train"], k - 1) if k > 1 else m["validation"]
            rate = float(t.y[mask].mean())
            zm = z[mask]
            shift = brentq(lambda a, zm=zm, rate=rate: float(np.mean(expit(zm + a))) - rate, -10, 10)
        q = expit(z[:, test_col] + shift)
        y = t.y[:, test_col]
        lab = ~np.isnan(y) if np.issubdtype(y.dtype, np.floating) else np.ones(y.size, bool)
        row = {"shift": round(shift, 4), "bce": bce(y[sel & lab], q[sel & lab])}
        if truth is not None:
            ok = sel & ~np.isnan(truth)
            row["mae"] = float(np.mean(np.abs(q[ok] - truth[ok])))
        out[f"k{k}"] = row
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
