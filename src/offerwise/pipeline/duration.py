"""How long a run is expected to take, said before it starts, from the data's size.

Scaled from a measured `make run` (the Complete Journey, configs/make-run.toml: shared model,
1 epoch, the forward plan on the backtest's models): each stage's seconds grow with the number of
transaction lines; training also with the epochs and with a second training for the forward plan
(model.forward_models = "refit"); 2 cores there, fewer seconds with more (not linearly: half the
work is single-threaded). A guide, not a promise: the data's shape (pairs per consumer, categories)
moves it, and per-category models are not estimated.
"""

from __future__ import annotations

import os

from offerwise.config import Config

MEASURED_LINES = 1_469_307  # the Complete Journey's transaction lines
MEASURED_CORES = 2
# make run's train stage, and the other stages together (bench/results/make-run.json, 2026-12-06's machine: about
# 1.35x the seconds of the one before); an epoch's share of training is the 2-epoch run's train stage less the 1-epoch one's
MEASURED_TRAIN_S = 63.8
MEASURED_OTHER_S = 220.2
MEASURED_EPOCHS = 1
MEASURED_EPOCH_S = 36.9  # one epoch's pass and its validation scoring (make-run-d0fbc8e.json: 100.7 s with 2 epochs)


def expected_seconds(lines: int, cfg: Config, cores: int | None = None) -> float:
    """The whole run's expected seconds for `lines` transaction lines under `cfg` on `cores` cores."""
    trainings = 2 if cfg.model.forward_models == "refit" else 1
    fixed = MEASURED_TRAIN_S - MEASURED_EPOCH_S * MEASURED_EPOCHS  # slicing, tensors, the LightGBM baseline
    train = (fixed + MEASURED_EPOCH_S * cfg.model.epochs) * trainings
    speedup = 1 + 0.5 * (min(cores or os.cpu_count() or 1, 16) / MEASURED_CORES - 1)  # half the work uses the cores
    return lines / MEASURED_LINES * (train + MEASURED_OTHER_S) / max(speedup, 0.5)


def expected_sentence(lines: int, cfg: Config, cores: int | None = None) -> str:
    minutes = round(expected_seconds(lines, cfg, cores) / 60)
    models = " (model.per_category = true: one model per category, longer than this)" if cfg.model.per_category else ""
    took = "under a minute" if minutes < 1 else f"about {minutes} minute{'s' if minutes > 1 else ''}"
    return f"{lines:,} transaction lines: {took} on {cores or os.cpu_count()} cores{models}"
