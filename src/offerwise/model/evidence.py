"""Intervals for test-split metrics: a bootstrap over households, paired between models.

Each draw resamples the fold's households (customer_id) with replacement — every row of a drawn
household comes along, once per time it is drawn — so the intervals respect the correlation of
a household's rows across items and categories. The same draws serve every category and model
of a fold (seeded by ``(seed, fold)``), so a difference between two models is paired row by row.
Intervals are percentile intervals of the draws at ``level``.

Per draw, a metric is computed from per-household sufficient statistics and a (draws × households)
count matrix: BCE from each household's summed loss and row count; F1 from its true positives,
predicted and actual positives; ROC-AUC as the weighted Mann-Whitney statistic over the tied
score levels (a row drawn k times weighs k). With every household drawn once, each equals
offerwise.model.metrics' value on the full sample.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from scipy import sparse

from offerwise.model.metrics import bce, roc_auc
from offerwise.probability import clipped
from offerwise.thresholds.cutoffs import _cutoffs

Metric = Literal["bce", "roc_auc", "f1"]
HIGHER_IS_BETTER = {"bce": False, "roc_auc": True, "f1": True}

_POOLED_FOLD = -1  # the draws' seed key of the folds pooled
_CELLS = 2_000_000  # draws × score levels held at once by the AUC computation


def _check(metric: str, n_boot: int, level: float) -> None:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"metric: expected one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot: expected a positive integer, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level!r}")


def _with_fold(frame: pl.DataFrame) -> pl.DataFrame:
    return frame if "fold" in frame.columns else frame.with_columns(fold=pl.lit(0, pl.Int32))


def _scored(predictions: pl.DataFrame, metric: str, decisions: pl.DataFrame | None) -> pl.DataFrame:
    """Test rows to score: fold, category, customer_id, item_id, [period,] model, label, score.

    score is the probability (bce, roc_auc) or the 0/1 decision (f1): from `decisions` when given,
    else "probability >= the F1-optimal cut-off of the fold, category and model on validation".
    """
    predictions = _with_fold(predictions)
    test = predictions.filter(pl.col("split") == "test")
    base = ["fold", "category", "customer_id", "item_id", *(["period"] if "period" in test.columns else []), "model", "label"]
    if metric != "f1":
        return test.select(*base, score=pl.col("probability"))
    if decisions is None:
        cut = _cutoffs(predictions.filter(pl.col("split") == "validation"), ["fold", "category", "model"])
        scored = test.join(cut, on=["fold", "category", "model"], how="left")
        return scored.select(*base, score=(pl.col("probability") >= pl.col("threshold")).fill_null(False).cast(pl.Float64))
    need = {"customer_id", "item_id", "category", "model", "label", "predicted"} - set(decisions.columns)
    if need:
        raise ValueError(f"decisions: missing column(s) {sorted(need)}")
    if "rule" in decisions.columns and decisions.get_column("rule").n_unique() > 1:
        raise ValueError(f"decisions: holds several rules {sorted(decisions.get_column('rule').unique().to_list())}; filter to one")
    if "fold" not in decisions.columns:
        folds = test.get_column("fold").unique()
        if folds.len() > 1:
            raise ValueError("decisions: needs a fold column when predictions hold several folds")
        decisions = decisions.with_columns(fold=pl.lit(folds.item() if folds.len() else 0, pl.Int32))
    keys = [c for c in base if c in decisions.columns]
    return decisions.select(*keys, score=pl.col("predicted").cast(pl.Float64))


def _draw_counts(n_households: int, n_boot: int, seed: int, fold: int) -> np.ndarray:
    """(n_boot, n_households): how often each household is drawn in each resample."""
    rng = np.random.default_rng([seed, abs(int(fold))])
    picks = rng.integers(0, n_households, size=(n_boot, n_households))
    flat = (picks + np.arange(n_boot)[:, None] * n_households).ravel()
    return np.bincount(flat, minlength=n_boot * n_households).reshape(n_boot, n_households).astype(np.float64)


def _per_household(counts: np.ndarray, hh: np.ndarray, values: np.ndarray) -> np.ndarray:
    return counts @ np.bincount(hh, weights=values, minlength=counts.shape[1])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _auc_draws(counts: np.ndarray, hh: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Weighted ROC-AUC per draw: Σ_levels P_g (negatives below g + ½ N_g) / (P · N)."""
    _, level = np.unique(p, return_inverse=True)
    shape = (counts.shape[1], int(level.max()) + 1 if level.size else 0)
    pos = sparse.csr_matrix((y.astype(np.float64), (hh, level)), shape=shape).T.tocsr()
    neg = sparse.csr_matrix((1.0 - y, (hh, level)), shape=shape).T.tocsr()
    out = np.empty(counts.shape[0])
    step = max(1, _CELLS // max(shape[1], 1))
    for lo in range(0, counts.shape[0], step):
        c = counts[lo : lo + step].T
        P, N = np.asarray(pos @ c).T, np.asarray(neg @ c).T  # (draws, levels)
        below = np.cumsum(N, axis=1) - N
        out[lo : lo + step] = _ratio((P * (below + 0.5 * N)).sum(axis=1), P.sum(axis=1) * N.sum(axis=1))
    return out


def _metric(metric: str, counts: np.ndarray, hh: np.ndarray, y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray]:
    """(full-sample value, value per draw) of one model on one fold and category."""
    y = y.astype(np.float64)
    if metric == "bce":
        p = clipped(score)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return bce(y, score), _ratio(_per_household(counts, hh, loss), _per_household(counts, hh, np.ones_like(y)))
    if metric == "roc_auc":
        return roc_auc(y, score), _auc_draws(counts, hh, y, score)
    tp, predicted = y * score, score
    estimate = float(_ratio(np.array([2 * tp.sum()]), np.array([predicted.sum() + y.sum()]))[0])
    return estimate, _ratio(2 * _per_household(counts, hh, tp), _per_household(counts, hh, predicted + y))


def _folds(rows: pl.DataFrame, n_boot: int, seed: int):
    """Per fold: (fold, rows with an `hh` index into the fold's households, draw counts)."""
    for (fold,), part in rows.sort("fold").group_by("fold", maintain_order=True):
        households = part.select("customer_id").unique().sort("customer_id").with_row_index("hh")
        yield fold, part.join(households, on="customer_id"), _draw_counts(households.height, n_boot, seed, fold)


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    if np.all(np.isnan(draws)):
        return float("nan"), float("nan")
    low, high = np.nanquantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def _verdict(low: float, high: float) -> str | None:
    """From an interval of a − b oriented so that positive favours a."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    low, high = min(low, high), max(low, high)
    return "a better" if low > 0 else "b better" if high < 0 else "tie"


def paired_bootstrap(
    predictions: pl.DataFrame,
    model_a: str,
    model_b: str,
    *,
    metric: Metric,
    decisions: pl.DataFrame | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.90,
    pool_folds: bool = False,
) -> pl.DataFrame:
    """Difference a − b of a test-split metric with a household-bootstrap interval, per fold and category.

    pool_folds: one row per category over the test rows of every fold together (fold null), each
    row scored as in its own fold (F1: its fold's cut-off); a household is drawn once for all folds,
    since its rows in different fortnights are correlated too.

    Rows are paired: only (customer_id, item_id[, period]) present for both models count. For
    "f1" the decisions are `decisions` (customer_id, item_id, category, model, label, predicted, and
    fold when predictions hold several folds; one rule only — e.g. apply_cutoffs()'s output filtered to a
    rule), or when None each fold/category/model's F1-optimal cut-off on validation.

    Columns: fold, category, metric, model_a, model_b, rows, estimate (a − b on the full sample),
    low, high (the `level` percentile interval of the draws), verdict ("a better" / "b better", or
    "tie" when the interval covers 0; for BCE lower is better; null when undefined, e.g. AUC of a
    category with one class).
    """
    _check(metric, n_boot, level)
    rows = _scored(predictions, metric, decisions)
    if pool_folds:
        rows = rows.with_columns(fold=pl.lit(_POOLED_FOLD, pl.Int32))
    for name, model in (("model_a", model_a), ("model_b", model_b)):
        if rows.filter(pl.col("model") == model).height == 0:
            raise ValueError(f"{name}: no test rows for model {model!r}")
    keys = [c for c in rows.columns if c not in ("model", "label", "score")]
    a = rows.filter(pl.col("model") == model_a).drop("model")
    b = rows.filter(pl.col("model") == model_b).select(*keys, score_b="score")
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    out = []
    for fold, part, counts in _folds(a.join(b, on=keys, how="inner"), n_boot, seed):
        for (category,), g in part.sort("category").group_by("category", maintain_order=True):
            hh, y = g.get_column("hh").to_numpy().astype(np.int64), g.get_column("label").to_numpy()
            est_a, draws_a = _metric(metric, counts, hh, y, g.get_column("score").to_numpy().astype(np.float64))
            est_b, draws_b = _metric(metric, counts, hh, y, g.get_column("score_b").to_numpy().astype(np.float64))
            estimate, (low, high) = est_a - est_b, _interval(draws_a - draws_b, level)
            verdict = _verdict(sign * low, sign * high)
            out.append((None if pool_folds else fold, category, metric, model_a, model_b, g.height, estimate, low, high, verdict))
    schema = {
        "fold": pl.Int32,
        "category": pl.String,
        "metric": pl.String,
        "model_a": pl.String,
        "model_b": pl.String,
        "rows": pl.Int64,
        "estimate": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
        "verdict": pl.String,
    }
    return pl.DataFrame(out, schema=schema, orient="row")


def metric_intervals(
    predictions: pl.DataFrame,
    metric: Metric,
    *,
    models: list[str] | None = None,
    decisions: pl.DataFrame | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.90,
) -> pl.DataFrame:
    """A test-split metric with its household-bootstrap interval, per fold, category and model.

    `models`: the models to score (default: all). `decisions`: as in paired_bootstrap (f1 only).
    Columns: fold, category, model, metric, rows, estimate (full sample), mean (over the draws),
    low, high (the `level` percentile interval of the draws).
    """
    _check(metric, n_boot, level)
    rows = _scored(predictions, metric, decisions)
    if models is not None:
        rows = rows.filter(pl.col("model").is_in(models))
        if rows.height == 0:
            raise ValueError(f"models: no test rows for any of {models}")
    out = []
    for fold, part, counts in _folds(rows, n_boot, seed):
        for (category, model), g in part.sort("category", "model").group_by("category", "model", maintain_order=True):
            estimate, draws = _metric(
                metric,
                counts,
                g.get_column("hh").to_numpy().astype(np.int64),
                g.get_column("label").to_numpy(),
                g.get_column("score").to_numpy().astype(np.float64),
            )
            mean = float(np.nanmean(draws)) if not np.all(np.isnan(draws)) else float("nan")
            out.append((fold, category, model, metric, g.height, estimate, mean, *_interval(draws, level)))
    schema = {
        "fold": pl.Int32,
        "category": pl.String,
        "model": pl.String,
        "metric": pl.String,
        "rows": pl.Int64,
        "estimate": pl.Float64,
        "mean": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
    }
    return pl.DataFrame(out, schema=schema, orient="row")


DIFFERENCES = (("stack", "lightgbm"), ("tcn", "lightgbm"), ("stack", "tcn"))


def scored_folds(predictions: pl.DataFrame) -> pl.DataFrame:
    """The predictions of the folds whose decided period has labels (the backtest's)."""
    folds = predictions.filter((pl.col("split") == "test") & pl.col("label").is_not_null()).get_column("fold").unique()
    return predictions.filter(pl.col("fold").is_in(folds.implode()))


def bootstrap_intervals(predictions: pl.DataFrame) -> pl.DataFrame:
    """90 % household-bootstrap intervals of test BCE and ROC-AUC: fold, category, model, split, {bce,roc_auc}_{low,high}."""
    parts = [
        metric_intervals(predictions, m).select("fold", "category", "model", **{f"{m}_low": "low", f"{m}_high": "high"})
        for m in ("bce", "roc_auc")
    ]
    return parts[0].join(parts[1], on=["fold", "category", "model"]).with_columns(split=pl.lit("test"))


def model_differences(predictions: pl.DataFrame) -> pl.DataFrame:
    """Paired household-bootstrap differences (a − b, 90 % interval, verdict "tie" when it covers 0)
    in test BCE, ROC-AUC and F1 under one F1-optimal cut-off per category (fitted on validation), per
    fold; with several folds also over all of them together (fold empty)."""
    present = set(predictions.get_column("model").unique().to_list())
    pairs = [(a, b) for a, b in DIFFERENCES if {a, b} <= present]
    pooled = [False, True] if predictions.get_column("fold").n_unique() > 1 else [False]
    return pl.concat(
        [
            paired_bootstrap(predictions, a, b, metric=m, pool_folds=pool)
            for pool in pooled
            for a, b in pairs
            for m in ("bce", "roc_auc", "f1")
        ],
        how="diagonal_relaxed",
    )
