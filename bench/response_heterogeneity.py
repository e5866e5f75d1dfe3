"""Diagnostic benchmark: how much of each pair's own propensity the response estimate's features miss,
on the project's simulator, and the flattening of a logit slope that this implies.

The simulator's truth `true_a` is each pair's own (subject-specific) slope. A logit slope fitted given
the features is the slope of the average purchase probability given what they show; where part of a
pair's baseline logit stays unseen, that slope is flatter (the logit is non-collapsible). With an
unseen normal part of SD σ it is flatter by the factor 1 / sqrt(1 + c² σ²), c = 16 √3 / (15 π)
(Zeger, Liang and Albert 1988). For the forward decision's labelled window of each seed and
promotion policy, per category:

* `baseline_corr`: the correlation of the true baseline logit `true_b` with logit m_Y(X);
* `baseline_resid_sd`: SD of the true baseline logit `true_b` around a linear calibration of the
  cross-fitted logit m_Y(X) (the purchase nuisance of the double-ML estimate): what the features miss;
* `baseline_resid_sd_pair`: SD of its mean per consumer-item pair (the persistent part);
* `implied_slope_error`: 1 / sqrt(1 + c² baseline_resid_sd²) − 1, the error that this alone implies
  for a logit slope fitted given the features, against `true_a`;
* `residual_pair_sd`: what the data show without the truth, the SD of a normal pair effect that
  matches the covariance of Y − m_Y between a pair's periods (Gauss–Hermite moments). It is small
  although the persistent part is large: the features carry each pair's purchase history, so the
  residuals of a later period are nearly uncorrelated with an earlier one's. The unseen part is
  then not identified from the data: correcting a slope for it needs the truth.

    python bench/response_heterogeneity.py [--seeds 7 11 12 13 14] [--policies random targeted] [--work results-work/response/oracle]

Reads (or simulates and prepares) the same work folders as bench/response_oracle.py. Results:
bench/results/response-heterogeneity.json and a table on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from response_oracle import _prepared, run_arguments, truth_rows  # bench/ is on the path when run as a script
from scipy.special import expit, logit

from offerwise.config import Config
from offerwise.elasticity import dml

RESULTS = Path(__file__).parent / "results" / "response-heterogeneity.json"
C2 = (16 * np.sqrt(3) / (15 * np.pi)) ** 2
NODES, NODE_WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
NODE_WEIGHTS = NODE_WEIGHTS / NODE_WEIGHTS.sum()


def conditional_intercepts(p: np.ndarray, sd: float) -> np.ndarray:
    """b with E_u[expit(b + u)] = p for u ~ N(0, sd²): Newton steps from the probit approximation."""
    b = logit(p) * np.sqrt(1 + C2 * sd**2)
    for _ in range(30):
        s = expit(b[:, None] + sd * NODES[None, :])
        b = b - (s @ NODE_WEIGHTS - p) / np.maximum((s * (1 - s)) @ NODE_WEIGHTS, 1e-12)
    return b


def within_pair_covariance(p: np.ndarray, pair: np.ndarray, sd: float) -> float:
    """Σ over pairs of Σ_{t≠s} Cov(Y_t, Y_s) implied by a normal pair effect of SD sd, given the marginal p."""
    b, total = conditional_intercepts(p, sd), 0.0
    for node, weight in zip(NODES, NODE_WEIGHTS):
        s = expit(b + sd * node)
        total += weight * float(np.sum(np.bincount(pair, s) ** 2 - np.bincount(pair, s * s)))
    return total - float(np.sum(np.bincount(pair, p) ** 2 - np.bincount(pair, p * p)))


def residual_pair_sd(y: np.ndarray, p: np.ndarray, pair: np.ndarray) -> float:
    """The SD of a normal pair effect whose implied within-pair covariance matches the residuals' (bisection)."""
    r = y - p
    observed = float(np.sum(np.bincount(pair, r) ** 2 - np.bincount(pair, r * r)))
    if within_pair_covariance(p, pair, 0.0) >= observed:
        return 0.0
    low, high = 0.0, 4.0
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if within_pair_covariance(p, pair, mid) < observed else (low, mid)
    return (low + high) / 2


def measure(out: Path, cfg: Config) -> list[dict]:
    p = _prepared(out, cfg)
    fold = p.forward_fold
    cutoff = p.decided_period(fold) - 1
    rows = p.frame.filter((pl.col("relevant_from_fold") <= fold) & (pl.col("period") <= cutoff + 1))
    r = cfg.response
    d = dml.design(rows, p.features, cutoff=cutoff, periods=r.periods, max_rows=r.max_rows, seed=0)
    y_res, _, _ = dml.cross_fit(d.Y, d.T, d.W, d.items, folds=r.folds, seed=0, offer_columns=dml.item_period_columns(d.window, d.controls))
    m_y = dml.outcome_mean(d.Y, y_res)
    truth = truth_rows(out / "data", p, d.window).select("customer_id", "item_id", "period", "true_b")
    window = d.window.with_columns(m_y=pl.Series(m_y)).join(
        truth, on=["customer_id", "item_id", "period"], how="left", maintain_order="left"
    )
    result = []
    for (category,), g in window.group_by("category"):
        base, seen = g.get_column("true_b").to_numpy(), logit(g.get_column("m_y").to_numpy())
        calibration = np.c_[np.ones_like(seen), seen]
        resid = base - calibration @ np.linalg.lstsq(calibration, base, rcond=None)[0]
        pair = g.select(pl.struct("customer_id", "item_id").rank("dense") - 1).to_series().to_numpy()
        sd = float(resid.std())
        means = np.bincount(pair, resid) / np.bincount(pair)
        result.append(
            {
                "category": str(category),
                "rows": g.height,
                "baseline_corr": float(np.corrcoef(base, seen)[0, 1]),
                "baseline_resid_sd": sd,
                "baseline_resid_sd_pair": float(means.std()),
                "implied_slope_error": float(1 / np.sqrt(1 + C2 * sd**2) - 1),
                "residual_pair_sd": residual_pair_sd(
                    g.get_column(dml.OUTCOME).cast(pl.Float64).to_numpy(), g.get_column("m_y").to_numpy(), pair
                ),
            }
        )
    return sorted(result, key=lambda r: r["category"])


def main() -> None:
    args = run_arguments(RESULTS)
    base, results = Config.from_toml(args.config), []
    for policy in args.policies:
        for seed in args.seeds:
            rows = measure(args.work / f"{policy}-{seed}", base.override("simulation", seed=seed, promotion_policy=policy))
            results += [{"policy": policy, "seed": seed, **r} for r in rows]
            print(f"{policy:8} seed {seed:3}: " + "  ".join(
                f"{r['category'][:8]} unseen SD {r['baseline_resid_sd']:.2f} (pair {r['baseline_resid_sd_pair']:.2f}) -> "
                f"{r['implied_slope_error']:+.1%}, from the data {r['residual_pair_sd']:.2f}" for r in rows), flush=True)  # fmt: skip
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps({"config": str(args.config), "work": str(args.work), "rows": results}, indent=1) + "\n")
    table = pl.DataFrame(results).group_by("policy").agg(pl.exclude("seed", "category", "policy", "rows").mean())
    with pl.Config(tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(table)


if __name__ == "__main__":
    main()
