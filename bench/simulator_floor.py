"""Benchmark: how low can a purchase model's error to the simulator's true probabilities go?

#15 asks for a mean absolute error (MAE) to the true probabilities of at most 0.03 on the project's
simulator. Part of every pair's logit is a constant of its own, affinity noise u ~ N(0, 0.6²)
(offerwise.data.simulate, its pairs), which no feature states: a model can only infer it from the
pair's own purchases. This script computes the error of a predictor that knows *everything else*
exactly (each consumer's and item's effects, need, habit, season, drift, demand shocks, the offer
slope and the offer) and infers u by Bayes' rule from the pair's purchases in every period before
the scored one (a grid posterior; the point prediction is the posterior median, which minimises the expected
absolute error): its MAE is a floor no model fed with the data can beat on average. Scored like bench/simulator_models.py: the backtest's decided period (the last data
period) at the offers the retailer ran, pairs bought in >= 2 periods before the validation period.

    python bench/simulator_floor.py [--seeds 1 2 3 4 5]

Writes bench/results/simulator-floor.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from offerwise.config import Config
from offerwise.data import simulate as sim

RESULTS = Path(__file__).parent / "results"
AFFINITY_NOISE_SD = 0.6  # the simulator's pairs: rng.normal(0, 0.6, n), the pair's own share of its affinity
GRID = np.linspace(-4, 4, 161) * AFFINITY_NOISE_SD


def dynamics(seed: int, config: Path) -> tuple[dict, dict]:
    """The simulator's pairs and dynamics for a seed, drawn in simulate.simulate's order."""
    cfg = Config.from_toml(config).simulation.model_copy(update={"seed": seed})
    world = sim.hidden_state(cfg)
    truth, pairs, items, customers = world["truth"], world["pairs"], world["items"], world["customers"]
    known = sim.BASE_LOGIT + customers["activity"][pairs["cust"]] + items["popularity"][pairs["item"]]
    return truth, {"noise": pairs["affinity"] - known, "a": pairs["a"]}


def floor(seed: int, config: Path, min_purchases: int = 2) -> dict:
    truth, pair = dynamics(seed, config)
    bought, base, offer = truth["bought"], truth["base"], truth["offer"]  # (periods, pairs)
    scored = bought.shape[0] - 1  # the backtest's decided period: the last data period
    validation = scored - 1
    keep = bought[:validation].sum(axis=0) >= min_purchases
    # Every logit but the pair's own affinity noise, for each period: known to this predictor.
    known = base - pair["noise"][None, :] + pair["a"][None, :] * offer
    history = slice(0, scored)
    logit_hist = known[history, keep][:, :, None] + GRID[None, None, :]  # (t, pairs, grid)
    y = bought[history, keep][:, :, None]
    loglik = np.sum(y * np.log(expit(logit_hist)) + (1 - y) * np.log(expit(-logit_hist)), axis=0)  # (pairs, grid)
    log_post = loglik + norm.logpdf(GRID, 0, AFFINITY_NOISE_SD)[None, :]
    post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    predictive = expit(known[scored, keep][:, None] + GRID[None, :])
    # The error is absolute, so the best point prediction is the posterior median of p (p rises with u).
    median_u = GRID[np.argmax(np.cumsum(post, axis=1) >= 0.5, axis=1)]
    p_floor = expit(known[scored, keep] + median_u)
    p_mean = np.sum(post * predictive, axis=1)
    prior = norm.pdf(GRID, 0, AFFINITY_NOISE_SD)
    p_prior = predictive @ (prior / prior.sum())
    p_true = truth["prob"][scored, keep]
    return {
        "seed": seed,
        "pairs": int(keep.sum()),
        "mean_true": float(p_true.mean()),
        "mae_floor": float(np.mean(np.abs(p_floor - p_true))),
        "mae_posterior_mean": float(np.mean(np.abs(p_mean - p_true))),
        "mae_without_pair_history": float(np.mean(np.abs(p_prior - p_true))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--config", type=Path, default=Path("configs/make-run.toml"))
    args = parser.parse_args()
    rows = [floor(s, args.config) for s in args.seeds]
    print(f"{'seed':>4} {'pairs':>6} {'mean p':>7} {'MAE floor':>10} {'posterior mean':>15} {'no pair history':>16}")
    for r in rows:
        print(
            f"{r['seed']:>4} {r['pairs']:>6} {r['mean_true']:>7.3f} {r['mae_floor']:>10.4f} {r['mae_posterior_mean']:>15.4f}"
            f" {r['mae_without_pair_history']:>16.4f}"
        )
    mean = float(np.mean([r["mae_floor"] for r in rows]))
    print(f"mean MAE floor {mean:.4f} (#15's target: 0.03)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "simulator-floor.json"
    out.write_text(json.dumps({"config": str(args.config), "rows": rows, "mae_floor_mean": mean}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
