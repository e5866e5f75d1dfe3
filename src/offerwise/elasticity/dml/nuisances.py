"""The nuisances m_Y = E[Y | X] and m_T = E[T | X], cross-fitted with folds grouped by item
(EconML's LinearDML, LightGBM), and those of the logistic final stage (refitted, or reused from the
linear stage's)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import expit, logit

from offerwise.columns import OFFER
from offerwise.config import OptionError
from offerwise.elasticity.dml.design import Design

REPEATS = 2  # cross-fittings with different splits, their final stages combined (shrinkage._median_combine)

# Nuisances: few, regularised trees (speed: ~300k rows in well under a minute on 2 cores). The
# offer is set per item and period and repeated over the item's consumers, so small leaves fit
# item-period noise (R² of the offer model below 0 under random promotions); hence its large leaves.
# n_jobs=1: two OpenMP threads on a busy 2-core machine ran 20-50x slower than one.
# Half the rounds at twice the rate of the earlier 150 / 100 at 0.05: the elasticity stage's fits take
# 27 % less CPU on the Complete Journey, its category slopes moved by at most 0.16 SE and no placebo
# verdict changed; on the simulator the category slope error and rank correlation stayed within
# noise (bench/results/response-nuisance-*-slopes.json, docs/results.md).
LGBM_Y = dict(
    n_estimators=75, num_leaves=15, learning_rate=0.1, min_child_samples=300, subsample=0.8, subsample_freq=1, colsample_bytree=0.8
)
LGBM_T = dict(
    n_estimators=50, num_leaves=7, learning_rate=0.1, min_child_samples=1000, subsample=0.8, subsample_freq=1, colsample_bytree=0.8
)


def _nuisance_params(n_rows: int, folds: int, seed: int) -> tuple[dict, dict]:
    """LightGBM settings of the outcome and offer nuisances; leaves scale with the data (the tuned
    sizes at ~20k and ~200k training rows)."""
    common = {"random_state": seed, "n_jobs": 1, "verbose": -1, "deterministic": True}
    n_train = n_rows * (folds - 1) // folds
    return (
        {**LGBM_Y, **common, "min_child_samples": int(np.clip(n_train // 100, 20, LGBM_Y["min_child_samples"]))},
        {**LGBM_T, **common, "min_child_samples": int(np.clip(n_train // 40, 50, LGBM_T["min_child_samples"]))},
    )


class OfferRegressor:
    """The offer nuisance E[T | X] as a LightGBM regressor on `columns` of X only (None: all), fitted
    on the distinct rows of those columns (mean offer, weight = rows or summed sample weights).

    A retailer sets an offer per item and period, and every consumer row of that item-period repeats
    it. Fitted on the consumer rows with the consumer columns, the model's errors (fitting noise on
    columns that cannot predict the offer) enter T − m_T and flatten the slope as measurement error
    in a regressor does: on the simulator, more leaves made the slopes 5–10 % flatter under random
    promotions, where the offer is exogenous. Written here because the grouping of duplicate rows has
    no sklearn or LightGBM equivalent; EconML calls it as any sklearn regressor."""

    def __init__(self, columns: list[int] | None, **params):
        self.columns, self.params = columns, params

    def get_params(self, deep: bool = True) -> dict:
        return {"columns": self.columns, **self.params}

    def set_params(self, **params) -> OfferRegressor:
        self.columns = params.pop("columns", self.columns)
        self.params.update(params)
        return self

    def _select(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X if self.columns is None else X[:, self.columns], dtype=np.float32)

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> OfferRegressor:
        from lightgbm import LGBMRegressor

        Z, y = self._select(X), np.asarray(y, float).ravel()
        w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, float)
        keys = np.ascontiguousarray(np.nan_to_num(Z, nan=np.float32(-3.4e38))).view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1])))
        _, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
        weight = np.bincount(inverse, w)
        target = np.bincount(inverse, w * y) / np.maximum(weight, 1e-300)
        params = {**self.params, "min_child_samples": int(np.clip(first.size // 40, 10, self.params["min_child_samples"]))}
        self.model_ = LGBMRegressor(**params).fit(Z[first], target, sample_weight=weight)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._select(X))


class OutcomeClassifier:
    """The outcome nuisance E[Y | X]: LightGBM's classifier without a `score` method. EconML scores
    every nuisance that has one on its held-out fold (a second prediction pass, ~8 % of the
    cross-fitting's time); the estimate never reads those scores."""

    def __init__(self, **params):
        self.params = params

    def get_params(self, deep: bool = True) -> dict:
        return dict(self.params)

    def set_params(self, **params) -> OutcomeClassifier:
        self.params.update(params)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray, **fit_params) -> OutcomeClassifier:
        from lightgbm import LGBMClassifier

        self.model_ = LGBMClassifier(**self.params).fit(X, y, **fit_params)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)


def item_period_columns(window: pl.DataFrame, controls: list[str]) -> list[int] | None:
    """Indices of the controls that are constant within every item-period of the window, when the
    offer itself is (the retailer sets one offer per item and period); None otherwise (offers vary
    across an item-period's consumers, e.g. inferred or personalised: the offer model sees every
    control)."""
    if window.is_empty():  # nothing to judge by (every row randomised): the offer model sees every control
        return None
    columns = [OFFER, *controls]
    counts = window.group_by("item_id", "period").agg(pl.col(c).n_unique() for c in columns).select(pl.col(columns).max())
    if counts.item(0, OFFER) > 1:
        return None
    keep = [i for i, c in enumerate(controls) if counts.item(0, c) <= 1]
    return keep or None


def cross_fit(
    Y: np.ndarray, T: np.ndarray, W: np.ndarray, clusters: np.ndarray, *, folds: int, seed: int, offer_columns: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Cross-fitted residuals (Y − m_Y, T − m_T) from EconML's LinearDML with LightGBM nuisances (the
    offer's on `offer_columns`, `OfferRegressor`) and folds grouped by `clusters` (shuffled by seed);
    also EconML's own probability-scale effect (a cross-check)."""
    from econml.dml import LinearDML
    from sklearn.model_selection import GroupKFold

    y_params, t_params = _nuisance_params(Y.size, folds, seed)
    est = LinearDML(
        model_y=OutcomeClassifier(**y_params),
        model_t=OfferRegressor(offer_columns, **t_params),
        discrete_outcome=True,
        cv=GroupKFold(n_splits=folds, shuffle=True, random_state=seed),
        random_state=seed,
        allow_missing=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Y, T, X=None, W=W, groups=clusters, cache_values=True)
    y_res, t_res, *_ = est.residuals_
    return np.asarray(y_res, float).ravel(), np.asarray(t_res, float).ravel(), float(np.ravel(est.intercept_)[0])


@dataclass(frozen=True)
class CrossFit:
    """One cross-fitting repetition over the estimate's n rows, and how it split (the logistic
    stage's refit splits the same way)."""

    y_res: np.ndarray  # (n,) Y − m_Y on held-out folds
    t_res: np.ndarray  # (n,) T − m_T on held-out folds
    q: np.ndarray  # (n,) m_Y (1 − m_Y): the linear final stage's logit-scale weight
    effect: float  # EconML's probability-scale effect of the whole sample (a cross-check)
    folds: int
    seed: int
    offer_columns: list[int] | None


def cross_fits(d: Design, *, folds: int, seed: int) -> list[CrossFit]:
    """REPEATS cross-fittings of d's nuisances (seeds seed, seed + 1, ...), the offer's on the
    controls set per item and period (`observational_offer_columns`). Where a randomised design drew the offer
    (d.design_mean) its residual is the offer minus the design's mean: no model stands in for what is known."""
    offer_columns = observational_offer_columns(d)
    n_items = np.unique(d.items).size
    if n_items < folds:  # cross-fitting folds are groups of items
        raise OptionError(
            f"The 'response.folds' option ({folds}) is more than the {n_items} items the offer response is "
            "cross-fitted over; use fewer folds."
        )
    out = []
    for r in range(REPEATS):
        y_res, t_res, effect = cross_fit(d.Y, d.T, d.W, d.items, folds=folds, seed=seed + r, offer_columns=offer_columns)
        t_res = with_known_offer_means(d, t_res)
        out.append(CrossFit(y_res, t_res, _final_weights(d.Y, y_res), effect, folds, seed + r, offer_columns))
    return out


def observational_offer_columns(d: Design) -> list[int] | None:
    """`item_period_columns` judged on the rows no design drew: a measured fortnight's personalised
    offers (its arms and exploration) need no offer model, and would otherwise switch the
    observational rows' offer model to every consumer column."""
    observational = np.isnan(d.design_mean)
    return item_period_columns(d.window if observational.all() else d.window.filter(pl.Series(observational)), d.controls)


def with_known_offer_means(d: Design, t_res: np.ndarray) -> np.ndarray:
    """The offer residuals with T − the design's mean where a randomised design drew the offer."""
    return np.where(np.isnan(d.design_mean), t_res, d.T - d.design_mean)


def logistic_nuisances(
    Y: np.ndarray,
    T: np.ndarray,
    W: np.ndarray,
    clusters: np.ndarray,
    slope: np.ndarray,
    *,
    folds: int,
    seed: int,
    offer_columns: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted nuisances of the logistic final stage (partially linear logistic model,
    logit P(Y = 1 | T, X) = a T + r(X); Liu, Zhang and Zhou 2021), for a preliminary slope per row:
    r̂(X) from a LightGBM classifier on X with the offset slope · T (LightGBM's init_score), and
    m_w(X) = E_w[T | X], the offer regression weighted by w = p(1 − p) at the row's offer. With the
    instrument T − m_w the score (Y − expit(a T + r̂)) (T − m_w) is Neyman-orthogonal in r and m_w, so
    the preliminary slope and the nuisances' errors move the estimate only to second order.
    Returns (r̂, T − m_w) on held-out folds (grouped by `clusters`, shuffled by seed).

    Why not DoubleML's DoubleMLLPLR: it fits one slope per call (no groups, no item-clustered
    covariance) and double cross-fits a third nuisance E[logit M(T, X) | X] to build r̂; the offset
    does that in one fit given the linear stage's slope."""
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import GroupKFold

    y_params, t_params = _nuisance_params(Y.size, folds, seed)
    offset, m_w = np.zeros(Y.size), np.zeros(Y.size)
    for train, test in GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(W, groups=clusters):
        known = slope[train] * T[train]
        outcome = LGBMClassifier(**y_params).fit(W[train], Y[train], init_score=known)
        offset[test] = outcome.predict(W[test], raw_score=True)
        p = expit(known + outcome.predict(W[train], raw_score=True))
        m_w[test] = OfferRegressor(offer_columns, **t_params).fit(W[train], T[train], sample_weight=p * (1 - p)).predict(W[test])
    return offset, T - m_w


def outcome_mean(Y: np.ndarray, y_res: np.ndarray) -> np.ndarray:
    """m_Y = Y − (Y − m_Y), clipped to [1e-4, 1 − 1e-4] so that its logit and weights stay finite."""
    return np.clip(Y - y_res, 1e-4, 1 - 1e-4)


def _final_weights(Y: np.ndarray, y_res: np.ndarray) -> np.ndarray:
    """q = m_Y (1 − m_Y): the linear final stage's logit-scale weight of each row."""
    q = outcome_mean(Y, y_res)
    return q * (1 - q)


def reused_logistic_nuisances(
    Y: np.ndarray, T: np.ndarray, y_res: np.ndarray, t_res: np.ndarray, slope: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The logistic final stage's nuisances from the linear stage's, with no further fit:
    r̂(X) = logit m_Y(X) − slope · m_T(X) and the instrument T − m_T. r̂ ignores that the logit of an
    average is not the average logit over the offers a row might have had, and m_T is not weighted
    by p (1 − p); the score is orthogonal in r, so the first error enters only multiplied by the
    second (Liu, Zhang and Zhou 2021). Why: the refit's fits nearly double the estimate's time on the
    Complete Journey; reusing adds 3 % to the linear stage's (docs/response.md)."""
    return logit(outcome_mean(Y, y_res)) - slope * (T - t_res), t_res
