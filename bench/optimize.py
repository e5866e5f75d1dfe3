"""Benchmark: seconds and certified gap of the Lagrangian solver (hull method, the default) against
its former bisection on the retention multiplier, measured in the same run, and HiGHS's MILP.

Instances are the expected-revenue form with retention enforced halfway between the revenue-optimal
offers' retention and the most achievable (a binding variant), 39 offer levels per pair, random but realistic probabilities, prices and slopes.
They are built in blocks of at most 1,000,000 pairs (seeds 0, 1, ...: the 1 M instance is the first
block of the 10 M one) and solved as LocalBlocks, one PairBlock per block: 10 M pairs in one piece
would need 3 GB per (pairs x levels) array and more than this machine's memory for the build.
`seconds` and `bisection_seconds` are wall times of one solve including the blocks' construction
(PairBlock's masked values), the least of --repeat runs that alternate the two methods;
`first_seconds` is the default solver's first run of the size, which also pays for memory the
process touches for the first time (most at 10 M). Run it with OMP_NUM_THREADS=1 for one core.
Targets: 1,000,000 pairs in <= 1 s, 10,000,000 in <= 12 s, certified gap <= 1e-9 (from 100k pairs: at 10k
one pair's rounding weighs more, 1.6e-9, while the bound is 2.6e-10 above the optimum). Results: bench/results/optimize.json.

    python bench/optimize.py [--sizes 10000 100000 1000000 10000000] [--repeat 2] [--milp-limit 60] [--milp-max 10000]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.problem import build
from offerwise.optimize.solvers import LocalBlocks, PairBlock, solve_blocks, solve_milp

RESULTS = Path(__file__).parent / "results" / "optimize.json"
BLOCK = 1_000_000


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


def blocks_of(n: int) -> tuple[list[tuple], float]:
    """(value, retention, allowed) of each block of at most BLOCK pairs; the summed target."""
    parts, R = [], 0.0
    for seed, start in enumerate(range(0, n, BLOCK)):
        m, target = instance(min(BLOCK, n - start), seed)
        parts.append((m.value, m.retention, m.allowed))
        R += target
        del m
        gc.collect()
    return parts, R


def timed(parts: list[tuple], R: float, method: str):
    start = time.perf_counter()
    sol = solve_blocks(LocalBlocks([PairBlock(*p) for p in parts]), R, method=method)
    return sol, time.perf_counter() - start


def row(n: int, args) -> dict:
    parts, R = blocks_of(n)
    runs: dict[str, list] = {"hull": [], "bisection": []}
    for _ in range(args.repeat):
        for method, done in runs.items():
            done.append(timed(parts, R, method))  # deterministic: the same solution each run
            gc.collect()
    (fast, first), (slow, _) = runs["hull"][0], runs["bisection"][0]
    seconds, bisection_seconds = (min(t for _, t in done) for done in runs.values())
    out = {"pairs": n, "blocks": len(parts), "seconds": round(seconds, 3), "bisection_seconds": round(bisection_seconds, 3),
           "speedup": round(bisection_seconds / seconds, 1), "first_seconds": round(first, 3),
           "lagrangian_gap": fast.gap, "bisection_gap": slow.gap,
           "lagrangian_objective": fast.objective, "bisection_objective": slow.objective, "multiplier": fast.multiplier}  # fmt: skip
    if n <= min(args.milp_max, BLOCK):  # one block: the MILP takes its arrays
        v, r, allowed = parts[0]
        exact = solve_milp(v, r, allowed, R, time_limit=args.milp_limit)
        out |= {"milp_seconds": round(exact.seconds, 2), "milp_status": exact.solver, "milp_gap": exact.gap, "milp_objective": exact.objective,
                "lagrangian_minus_milp": fast.objective - exact.objective, "bound_minus_milp": fast.bound - exact.objective}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--milp-limit", type=float, default=60.0)
    # HiGHS did not return at 100k pairs within minutes of a 30 s limit (docs/optimization.md): 10k by default.
    parser.add_argument("--milp-max", type=int, default=10_000)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        results.append(row(n, args))
        print(json.dumps(results[-1]), flush=True)
        gc.collect()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
