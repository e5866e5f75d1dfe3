"""A stack of the TCN and LightGBM: per-category weights on the two logits.

For each fold and category, on that fold's **validation** rows only,

    logit p_stack = w_tcn · logit(p_tcn) + w_lightgbm · logit(p_lightgbm) + intercept,

fitted by penalised log-loss with ``w_tcn, w_lightgbm >= 0``; by default (``model.stack_form =
"convex"``) with ``w_tcn + w_lightgbm = 1`` and no intercept. A free intercept takes the validation
fortnight's purchase rate, which does not carry to the next fortnight (Complete Journey, 3 folds,
household-bootstrap verdicts on test BCE against LightGBM: logistic 5 better, 6 tie, 7 worse, by up
to 0.014 in MEAT; convex 7 better, 11 tie, 0 worse; docs/results.md). The non-negative weights keep the
stack monotone in each part: a deeper offer raises the TCN's logit, and so never lowers the
stack's (the offer slope of the stack is ``w_tcn`` times the TCN's).

Each category's coefficients are shrunk toward the pooled (all categories of the fold) fit by a
ridge penalty on the mean log-loss of ``(c / n_category) · ||θ - θ_pooled||²`` — equivalently
``c · ||θ - θ_pooled||²`` added to the summed log-loss — so the pull grows as the category's
validation rows shrink. ``c`` (``DEFAULT_SHRINKAGE`` = 50) is in log-loss units per squared unit of
coefficient: one validation row carries about p(1-p)·logit² ≈ 0.1-0.5 of curvature, so a category
with ~30 rows sits close to the pooled fit and one with a few thousand rows is essentially its own.

Fold k's weights are fitted on the validation rows of folds <= k (``validation = "past_folds"``,
the default; each fold's rows scored by that fold's models), or on fold k's alone (``"fold"``).
Every one of those fortnights ends before fold k's test fortnight, so no weight sees a label it is
scored on; a later fold's are never used (fold k+1's validation period is fold k's test period).
One fortnight of validation moved the pooled TCN weight between 0.30 and 0.50 from fold to fold on
the Complete Journey; the earlier folds' fortnights steady it (docs/results.md).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.optimize import minimize

from offerwise.probability import clipped_logit, expit

POOLED = "__pooled__"
DEFAULT_SHRINKAGE = 50.0
PARTS = ("tcn", "lightgbm")
KEYS = ["customer_id", "item_id", "category", "period", "split", "fold"]


def stack_logit(logit_tcn: np.ndarray, logit_lgbm: np.ndarray, w) -> np.ndarray:
    """w_tcn · logit_tcn + w_lightgbm · logit_lgbm + intercept, broadcast over the inputs.

    `w`: (w_tcn, w_lightgbm, intercept) — a sequence, an array of shape (..., 3) (one row per
    input row), a mapping with those keys, or a one-row weights frame. Use at any offer: pass the
    TCN's logit at that offer. Non-decreasing in each logit, since fitted weights are >= 0.
    """
    if isinstance(w, pl.DataFrame):
        if w.height != 1:
            raise ValueError(f"w: expected one row of weights, got {w.height}")
        w = w.row(0, named=True)
    if isinstance(w, dict):
        w = (w["w_tcn"], w["w_lightgbm"], w["intercept"])
    w = np.asarray(w, dtype=np.float64)
    if w.shape[-1:] != (3,):
        raise ValueError(f"w: expected (w_tcn, w_lightgbm, intercept), got shape {w.shape}")
    return w[..., 0] * np.asarray(logit_tcn, dtype=np.float64) + w[..., 1] * np.asarray(logit_lgbm, dtype=np.float64) + w[..., 2]


def _fit(X: np.ndarray, y: np.ndarray, prior: np.ndarray | None, strength: float) -> np.ndarray:
    """(w_tcn, w_lightgbm, intercept) minimising summed log-loss + strength·||θ - prior||², w >= 0."""
    design = np.column_stack([X, np.ones(len(y))])
    centre = np.zeros(3) if prior is None else prior
    lam = strength if prior is not None else 1e-6  # a whisker of ridge keeps separable data finite

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ theta
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + lam * np.sum((theta - centre) ** 2)
        grad = design.T @ (expit(z) - y) + 2 * lam * (theta - centre)
        return float(loss), grad

    start = np.array([0.5, 0.5, 0.0]) if prior is None else prior.copy()
    res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None), (0.0, None), (None, None)])
    return res.x


def _fit_convex(X: np.ndarray, y: np.ndarray, prior: np.ndarray | None, strength: float) -> np.ndarray:
    """(w, 1 - w, 0): the weight 0 <= w <= 1 of the TCN's logit in a weighted average of the two
    logits, minimising summed log-loss + strength·(w - w_prior)². No intercept: the level stays the
    parts' own (the TCN's from its validation recalibration, LightGBM's from its training periods),
    not one fitted to the validation fortnight's purchase rate."""
    diff, base = X[:, 0] - X[:, 1], X[:, 1]
    centre = 0.5 if prior is None else float(prior[0])
    lam = strength if prior is not None else 0.0

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = base + w[0] * diff
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + lam * (w[0] - centre) ** 2
        return float(loss), np.array([float(diff @ (expit(z) - y)) + 2 * lam * (w[0] - centre)])

    w = float(minimize(objective, np.array([centre]), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)]).x[0])
    return np.array([w, 1.0 - w, 0.0])


FORMS = {"logistic": _fit, "convex": _fit_convex}


def _paired(predictions: pl.DataFrame) -> pl.DataFrame:
    """One row per key with both parts: KEYS, label, logit_tcn, logit_lightgbm (fold 0 if absent)."""
    missing = {"customer_id", "item_id", "category", "period", "split", "model", "probability", "label"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions: missing column(s) {sorted(missing)}")
    frame = predictions if "fold" in predictions.columns else predictions.with_columns(fold=pl.lit(0, pl.Int32))
    parts = [
        frame.filter(pl.col("model") == name).select(*KEYS, *(["label"] if name == "tcn" else []), pl.col("probability").alias(f"p_{name}"))
        for name in PARTS
    ]
    both = parts[0].join(parts[1], on=KEYS, how="inner")
    return both.with_columns(
        logit_tcn=pl.Series(clipped_logit(both.get_column("p_tcn").to_numpy())),
        logit_lightgbm=pl.Series(clipped_logit(both.get_column("p_lightgbm").to_numpy())),
    ).drop("p_tcn", "p_lightgbm")


VALIDATION = ("past_folds", "fold")


def fit_stack(
    predictions: pl.DataFrame, *, shrinkage: float = DEFAULT_SHRINKAGE, form: str = "convex", validation: str = "past_folds"
) -> pl.DataFrame:
    """Fit the stack on the validation rows that have both a TCN and a LightGBM probability.

    Columns: fold, category, w_tcn, w_lightgbm, intercept, n_validation — one row per fold and
    category plus one per fold with category "__pooled__" (the unshrunk fit on all categories,
    used for categories absent from validation). Weights are >= 0. `form` (model.stack_form):
    "convex" (w_tcn + w_lightgbm = 1, no intercept; `_fit_convex`) or "logistic" (two weights and an
    intercept). `validation` (model.stack_validation): fold k fits on the validation rows of folds <= k
    ("past_folds") or of fold k only ("fold"); n_validation counts the rows used.
    """
    if not shrinkage >= 0:
        raise ValueError(f"shrinkage: must be >= 0, got {shrinkage}")
    if form not in FORMS:
        raise ValueError(f"form: one of {sorted(FORMS)}, got {form!r}")
    if validation not in VALIDATION:
        raise ValueError(f"validation: one of {list(VALIDATION)}, got {validation!r}")
    fit = FORMS[form]
    paired = _paired(predictions).filter(pl.col("split") == "validation")
    if paired.height == 0:
        raise ValueError("predictions: no validation rows with both 'tcn' and 'lightgbm' probabilities")
    rows = []
    for fold in sorted(paired.get_column("fold").unique().to_list()):
        part = paired.filter((pl.col("fold") <= fold) if validation == "past_folds" else (pl.col("fold") == fold)).sort("fold", "category")
        X = part.select("logit_tcn", "logit_lightgbm").to_numpy()
        y = part.get_column("label").to_numpy().astype(np.float64)
        pooled = fit(X, y, None, 0.0)
        rows.append((fold, POOLED, *pooled, part.height))
        cats = part.get_column("category").to_numpy()
        for cat in np.unique(cats):
            mask = cats == cat
            rows.append((fold, str(cat), *fit(X[mask], y[mask], pooled, shrinkage), int(mask.sum())))
    schema = {
        "fold": pl.Int32,
        "category": pl.String,
        "w_tcn": pl.Float64,
        "w_lightgbm": pl.Float64,
        "intercept": pl.Float64,
        "n_validation": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col("w_tcn", "w_lightgbm").clip(lower_bound=0.0))


def apply_stack(predictions: pl.DataFrame, weights: pl.DataFrame) -> pl.DataFrame:
    """The stack's rows (model = "stack") for every (customer_id, item_id, period, split, fold) with both parts.

    Same columns (and order) as `predictions`; only the stack's rows — concatenate with the input to
    score all models together. A category without its own weights uses its fold's "__pooled__" row;
    `weights` without a fold column apply to every fold. Probability = expit(stack_logit(...)).
    """
    need = {"category", "w_tcn", "w_lightgbm", "intercept"} - set(weights.columns)
    if need:
        raise ValueError(f"weights: missing column(s) {sorted(need)}")
    paired = _paired(predictions)
    coef = ["w_tcn", "w_lightgbm", "intercept"]
    if "fold" in weights.columns:
        w = weights.select(pl.col("fold").cast(pl.Int32), "category", *coef)
        absent = set(paired.get_column("fold").unique().to_list()) - set(w.get_column("fold").to_list())
        if absent:
            raise ValueError(f"weights: no rows for fold(s) {sorted(absent)}")
    else:
        w = paired.select(pl.col("fold").cast(pl.Int32)).unique().join(weights.select("category", *coef), how="cross")
    own = w.filter(pl.col("category") != POOLED)
    pooled = w.filter(pl.col("category") == POOLED).drop("category")
    joined = (
        paired.with_columns(pl.col("fold").cast(pl.Int32))
        .join(own, on=["fold", "category"], how="left")
        .join(pooled, on="fold", how="left", suffix="_pooled")
        .with_columns(pl.col(c).fill_null(pl.col(f"{c}_pooled")) for c in coef)
    )
    if joined.get_column("w_tcn").null_count():
        raise ValueError("weights: a category has no weights and its fold no '__pooled__' row")
    z = stack_logit(
        joined.get_column("logit_tcn").to_numpy(), joined.get_column("logit_lightgbm").to_numpy(), joined.select(coef).to_numpy()
    )
    out = joined.with_columns(model=pl.lit("stack"), probability=pl.Series(expit(z)))
    columns = predictions.columns
    if "fold" not in columns:
        out = out.drop("fold")
    return out.select(columns).cast(dict(predictions.schema))
