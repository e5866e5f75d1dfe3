"""Benchmark: TCN training throughput on the Complete Journey's largest category.

Prints sequence-steps per second (pairs x periods per second of training) and seconds per epoch
for offerwise's training loop, against a reference measured in the same process: the same
network trained by a bare PyTorch loop over in-memory tensors (no masks, schedulers, SWA or
validation). Target: offerwise's loop within 1.5x of the reference. Results: bench/results/train.json.

    python bench/train.py [--panel DIR] [--category GROCERY] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from offerwise import io
from offerwise.config import ModelConfig, PanelConfig
from offerwise.features.manifest import Feature
from offerwise.features.shards import read_panel
from offerwise.model.slices import make_slice, split_masks
from offerwise.model.tcn import TCNModel, batch_inputs, masked_bce
from offerwise.model.tensors import Encoders, to_tensors

RESULTS = Path(__file__).parent / "results" / "train.json"


def load_panel(panel_dir: Path | None):
    if panel_dir is not None:
        manifest = io.read_json(panel_dir / "features.json")
        return (
            read_panel(panel_dir),
            [Feature(**f) for f in manifest["features"]],
            pl.read_csv(panel_dir / "splits.csv"),
        )
    from offerwise.data.load import load_data
    from offerwise.features.build import build_panel

    panel = build_panel(load_data("complete-journey"), PanelConfig())
    return panel.frame, panel.features, panel.splits


def reference_steps_per_second(model: TCNModel, t, cfg: ModelConfig, seconds: float = 20.0) -> float:
    """A bare loop: random batches of whole sequences, forward, BCE, backward, Adam step."""
    torch.manual_seed(0)
    net = model.build_network()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    y, mask = torch.from_numpy(t.y), torch.ones(t.y.shape)
    rng, steps, start = np.random.default_rng(0), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        idx = rng.choice(t.y.shape[0], cfg.batch_size, replace=False)
        loss = masked_bce(net(*batch_inputs(t, idx, torch.device("cpu"))), y[idx], mask[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += idx.size * t.y.shape[1]
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panel", type=Path)
    parser.add_argument("--category", default="GROCERY")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    frame, features, splits = load_panel(args.panel)
    sl = make_slice(frame, splits, 0, args.category)
    enc = Encoders.fit(sl.frame, features, pl.col("period").is_in(sl.train_periods))
    t = to_tensors(sl.frame, enc)
    m = split_masks(t, sl)
    cfg = ModelConfig(epochs=args.epochs, patience=args.epochs + 1)
    model = TCNModel(config=cfg, encoders=enc)
    reference = reference_steps_per_second(model, t, cfg)
    model.fit(t, m["train"], m["validation"], progress=True)
    trained_pairs = int(m["train"].any(axis=1).sum())
    steps = trained_pairs * t.y.shape[1]
    train_seconds = float(np.mean([h["train_seconds"] for h in model.history_]))
    epoch_seconds = float(np.mean([h["seconds"] for h in model.history_]))
    result = {
        "category": args.category,
        "pairs": int(t.y.shape[0]),
        "periods": int(t.y.shape[1]),
        "threads": torch.get_num_threads(),
        "reference_steps_per_s": round(reference),
        "offerwise_steps_per_s_training_only": round(steps / train_seconds),
        "offerwise_steps_per_s_with_validation": round(steps / epoch_seconds),
        "seconds_per_epoch": round(epoch_seconds, 2),
        "slowdown_vs_reference": round(reference / (steps / epoch_seconds), 2),
    }
    print(json.dumps(result, indent=2))
    io.write_json(result, RESULTS)


if __name__ == "__main__":
    main()
