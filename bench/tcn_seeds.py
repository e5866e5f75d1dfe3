"""Is the TCN's gap to LightGBM its seed noise? Trains the TCN with several seeds on one fold (as
`offerwise run` trains: make-run settings, every category, validation inputs as decided) and scores
each seed, and the averages of the first k seeds' logits, on the fold's decided fortnight.

    python bench/tcn_seeds.py --prepared results-work/models5/prepared --fold 1 --seeds 3

Prints test BCE of the six largest departments per model and writes them to
bench/results/tcn-seeds-fold<F>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from model_experiments import training_tensors  # a sibling in bench/ (the script's folder is on sys.path)
from scipy.special import expit, logit

from offerwise import pipeline
from offerwise.config import Config
from offerwise.model.baselines import LightGBMBaseline
from offerwise.model.metrics import bce
from offerwise.model.tcn import TCNModel

RESULTS = Path(__file__).parent / "results"
DEPARTMENTS = ["GROCERY", "PRODUCE", "DRUG GM", "MEAT-PCKGD", "MEAT", "DELI"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepared", type=Path, default=Path("results-work/models5/prepared"))
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=Path("configs/make-run.toml"))
    args = parser.parse_args()
    cfg = Config.from_toml(args.config).model
    prep = pipeline.read_prepared(args.prepared)
    enc, t, m = training_tensors(prep, prep.frame, args.fold, cfg, prep.features, validation_as_decided=True)
    cats = t.keys.get_column("category").to_numpy()
    test = int(np.flatnonzero(m["test"][0])[0])
    y = t.y[:, test]
    logits = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        tcn = TCNModel(config=cfg.model_validate({**cfg.model_dump(), "seed": seed}), encoders=enc)
        p = tcn.fit(t, m["train"], m["validation"], progress=False).predict_proba(t)[:, test]
        logits.append(logit(np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    ids = [j for j, c in enumerate(enc.static_categorical) if c in ("customer_id", "item_id")]
    models = {f"tcn seed {s}": expit(z) for s, z in enumerate(logits)}
    models |= {f"tcn mean of {k} seeds": expit(np.mean(logits[:k], axis=0)) for k in range(2, args.seeds + 1)}
    models["lightgbm"] = LightGBMBaseline(config=cfg, id_columns=ids).fit(t, m["train"], m["validation"]).predict_proba(t)[:, test]
    rows = []
    print(f"{'model':22} " + " ".join(f"{d[:10]:>10}" for d in DEPARTMENTS) + "   six (mean)")
    for name, p in models.items():
        scores = {d: bce(y[cats == d], p[cats == d]) for d in DEPARTMENTS}
        rows.append({"model": name, **scores, "six_mean": float(np.mean(list(scores.values())))})
        print(f"{name:22} " + " ".join(f"{scores[d]:10.4f}" for d in DEPARTMENTS) + f"   {rows[-1]['six_mean']:.5f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"tcn-seeds-fold{args.fold}.json"
    out.write_text(json.dumps({"prepared": str(args.prepared), "fold": args.fold, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
