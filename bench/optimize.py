"""Benchmark: seconds and certified gap of the Lagrangian decomposition against HiGHS's MILP.

Instances are the expected-revenue form with retention enforced halfway between the revenue-optimal
offers' retention and the most achievable (a binding variant), 39 offer levels per pair, random but realistic probabilities, prices and slopes.
Target: 1,000,000 pairs in <= 5 s with a certified gap <= 0.1 %. Results: bench/results/optimize.json.

    python bench/optimize.py [--sizes 10000 100000 1000000] [--milp-limit 60] [--milp-max 100000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl

from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.problem import build
from offerwise.optimize.solvers import solve_lagrangian, solve_milp

RESULTS = Path(__file__).parent / "results" / "optimize.json"


def instance(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pairs = pl.DataFrame({
        "reference_offer_pct": np.where(rng.random(n) < 0.2, 0.0, rng.uniform(5, 40, n)),
        "probability": np.clip(rng.beta(1.5, 8, n), 0.005, 0.99),
        "price": np.exp(rng.normal(1.0, 0.6, n)),
        "threshold": rng.uniform(0.1, 0.4, n),
        "category_a": np.full(n, 0.03),
        "pair_slope": np.abs(rng.normal(0.03, 0.015, n)),
    })  # fmt: skip
    m = build(pairs, response_kind="counterfactual", objective="expected", levels=CategoryLevels.paper((5.0, 50.0)), unit_cost_share=None)
    # Halfway between the revenue-optimal offers' retention and the most achievable: the constraint binds.
    free = np.where(m.allowed, m.value, -np.inf).argmax(axis=1)
    unconstrained = float(m.retention[np.arange(n), free].sum())
    best = float(np.where(m.allowed, m.retention, -1.0).max(axis=1).sum())
    return m, unconstrained + 0.5 * (best - unconstrained)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--milp-limit", type=float, default=60.0)
    parser.add_argument("--milp-max", type=int, default=100_000)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        m, R = instance(n)
        fast = solve_lagrangian(m.value, m.retention, m.allowed, R)
        row = {"pairs": n, "lagrangian_seconds": round(fast.seconds, 3), "lagrangian_gap": fast.gap, "lagrangian_objective": fast.objective}
        if n <= args.milp_max:
            exact = solve_milp(m.value, m.retention, m.allowed, R, time_limit=args.milp_limit)
            row |= {"milp_seconds": round(exact.seconds, 2), "milp_status": exact.solver, "milp_gap": exact.gap, "milp_objective": exact.objective,
                    "lagrangian_minus_milp": fast.objective - exact.objective}  # fmt: skip
        print(json.dumps(row), flush=True)
        results.append(row)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
