"""The final stage of one cross-fitting repetition: the residual-on-residual regression (linear) or
the partially linear logistic score, per category with its groups and pooled over the identified
categories, solved with an item-clustered covariance; the logistic stage kept where well posed; the
slopes divided by the offer's reliability where the inferred offer's noise is known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from scipy.special import expit

from offerwise.elasticity.dml.design import Design
from offerwise.elasticity.dml.groups import _labels
from offerwise.elasticity.dml.nuisances import CrossFit, logistic_nuisances, reused_logistic_nuisances
from offerwise.elasticity.dml.shrinkage import _deviations, _effects_columns
from offerwise.features.offers import OFFER_NOISE

MIN_OFFER_RELIABILITY = (
    0.5  # share of the residual offer variance that is not the inferred offer's sampling error (fixed a priori, docs/response.md)
)
ILL_POSED_SE_RATIO = 5.0  # a logistic-stage SE this many times the linear stage's marks an ill-posed score
MAX_LOGIT_STEP = 0.5  # the logistic final stage's Newton steps move no row's logit further (it diverged from 0 unguarded)

# One repetition's final stage: (pooled (slope, se), {category: (slope, se)}, the categories' group
# deviations, the groups' shared relative effects or None).
Fitted = tuple[tuple[float, float], dict, list[dict], list[dict] | None]


@dataclass
class _Final:
    """What the final stage fits, per row, for one cross-fitting repetition.

    linear:   (Y − m_Y) = (D · x) β + e, x = q (T − m_T): least squares (instrument = regressor).
    logistic: P(Y = 1) = expit((D · T) β + r̂(X)), solved with the instrument D · (T − m_w(X)).
    D is the design (1 and the groups' effects columns) the fit multiplies in."""

    logistic: bool
    y: np.ndarray
    x: np.ndarray  # regressor per row before the design
    z: np.ndarray  # instrument per row before the design
    offset: np.ndarray

    def subset(self, m: np.ndarray) -> _Final:
        return _Final(self.logistic, self.y[m], self.x[m], self.z[m], self.offset[m])


def _linear_final(y_res: np.ndarray, x: np.ndarray) -> _Final:
    return _Final(False, y_res, x, x, np.zeros(x.size))


@dataclass(frozen=True)
class Partition:
    """The rows each fit of a final stage reads (n rows of the estimate)."""

    items: np.ndarray  # (n,) item ids: the clusters
    cats: np.ndarray  # (n,) category
    masks: dict[str, np.ndarray]  # category -> (n,) its rows
    groups: pl.DataFrame  # n rows: the group labels (groups._group_columns)
    ident: list[str]  # the identified categories
    pool: np.ndarray  # (n,) the pooled fit's rows: the identified categories' (every row when none is)

    @classmethod
    def of(cls, d: Design, groups: pl.DataFrame, ident: list[str]) -> Partition:
        pool = np.isin(d.cats, ident) if ident else np.ones(d.items.size, bool)
        return cls(items=d.items, cats=d.cats, masks=d.masks, groups=groups, ident=ident, pool=pool)


def _cluster_fit(D: np.ndarray, final: _Final, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solves Σ_i (y_i − g((D_i x_i) β + offset_i)) D_i z_i = 0 (g: identity, or expit for the
    logistic stage) by Newton steps, halved while the score's norm grows, and returns β with the
    sandwich covariance clustered by `clusters` (`_clustered_covariance`). The linear case is
    OLS, solved in one step. Written here, not taken from statsmodels: its GLM has no instrument
    other than the regressor, and the logistic stage's orthogonal score needs T − m_w(X) there."""
    Zr, Zi = D * final.x[:, None], D * final.z[:, None]
    beta = np.zeros(D.shape[1])

    def residual(b: np.ndarray) -> np.ndarray:
        eta = Zr @ b + final.offset
        return final.y - (expit(eta) if final.logistic else eta)

    def jacobian_inverse(b: np.ndarray) -> np.ndarray:
        if not final.logistic:
            return np.linalg.pinv(Zi.T @ Zr)
        gain = expit(Zr @ b + final.offset)
        return np.linalg.pinv(Zi.T @ (Zr * (gain * (1 - gain))[:, None]))

    u = residual(beta)
    for _ in range(1 if not final.logistic else 100):
        inv = jacobian_inverse(beta)
        step, score = inv @ (Zi.T @ u), np.linalg.norm(Zi.T @ u)
        if final.logistic:  # trust region: no row's logit moves more than MAX_LOGIT_STEP per step
            step = step * min(1.0, MAX_LOGIT_STEP / max(float(np.max(np.abs(Zr @ step))), 1e-300))
            for _ in range(20):
                if np.linalg.norm(Zi.T @ residual(beta + step)) <= score:
                    break
                step = step / 2
        beta = beta + step
        u = residual(beta)
        if np.max(np.abs(Zr @ step)) < 1e-9:
            break
    inv = jacobian_inverse(beta) if final.logistic else inv
    return beta, _clustered_covariance(Zi * u[:, None], inv, clusters)


def _clustered_covariance(row_scores: np.ndarray, inv: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The sandwich inv (Σ_g s_g s_gᵀ) invᵀ, s_g the summed (n, k) row scores of cluster g, with
    CR1's small-sample factor G/(G−1) · (n−1)/(n−k)."""
    _, idx = np.unique(clusters, return_inverse=True)
    G = int(idx.max()) + 1
    n, k = row_scores.shape
    scores = np.zeros((G, k))
    np.add.at(scores, idx, row_scores)
    adj = (G / max(G - 1, 1)) * ((n - 1) / max(n - k, 1))
    return adj * inv @ (scores.T @ scores) @ inv.T


def _category_fit(final: _Final, groups: pl.DataFrame, clusters: np.ndarray) -> tuple[float, float, list[dict]]:
    """One category: the final stage with the design [1, effects-coded groups]; the intercept is the
    category slope."""
    E, effects = _effects_columns(_labels(groups))
    beta, V = _cluster_fit(np.column_stack([np.ones(final.y.size), E]), final, clusters)
    return float(beta[0]), float(np.sqrt(max(V[0, 0], 0.0))), _deviations(effects, beta[1:], V[1:, 1:])


def _shared_fit(final: _Final, cats: np.ndarray, slope_of: dict, groups: pl.DataFrame, clusters: np.ndarray) -> list[dict]:
    """All identified categories: a(X) = slope_c + slope_c · Σ r_g with one relative effect r_g per
    group shared by every category (slope_c free per category, the fitted slopes plugged in as the
    scale of r_g). Returns the relative deviations r_g with SEs."""
    E, effects = _effects_columns(_labels(groups))
    names = sorted(slope_of)
    scale = np.array([slope_of[c] for c in cats])
    D = np.column_stack([*((cats == c).astype(float) for c in names), E * scale[:, None]])
    beta, V = _cluster_fit(D, final, clusters)
    k = len(names)
    return _deviations(effects, beta[k:], V[k:, k:])


def _fit_final(final: _Final, part: Partition) -> Fitted:
    """One repetition's final stage: the pooled slope over `part.pool`, each identified category's slope
    and group deviations, and the groups' relative effects shared by all identified categories."""
    pool, items = part.pool, part.items
    beta, V = _cluster_fit(np.ones((int(pool.sum()), 1)), final.subset(pool), items[pool])
    slopes, devs = {}, []
    for c in part.ident:
        m = part.masks[c]
        slope, se, d = _category_fit(final.subset(m), part.groups.filter(pl.Series(m)), items[m])
        slopes[c] = (slope, se)
        devs += [{"category": c, **row} for row in d]
    shared = None
    if part.ident:
        shared = _shared_fit(
            final.subset(pool), part.cats[pool], {c: v[0] for c, v in slopes.items()}, part.groups.filter(pl.Series(pool)), items[pool]
        )
    return (float(beta[0]), float(np.sqrt(V[0, 0]))), slopes, devs, shared


def final_stage(
    d: Design, part: Partition, fit: CrossFit, *, stage: Literal["linear", "logistic"], logistic_fit: Literal["refit", "reuse"]
) -> tuple[Fitted, set[str]]:
    """One repetition's final stage: the linear one; with stage "logistic", the logistic one started
    from the linear slopes (its nuisances refitted or reused), kept where well posed. Returns the fit
    and the categories whose logistic stage fell back to the linear one."""
    linear = _fit_final(_linear_final(fit.y_res, fit.q * fit.t_res), part)  # the logit-scale regressor
    if stage != "logistic":
        return linear, set()
    first = _row_slopes(linear, part)
    if logistic_fit == "reuse":
        offset, t_w = reused_logistic_nuisances(d.Y, d.T, fit.y_res, fit.t_res, first)
    else:
        offset, t_w = logistic_nuisances(d.Y, d.T, d.W, part.items, first, folds=fit.folds, seed=fit.seed, offer_columns=fit.offer_columns)
    logistic = _fit_final(_Final(True, d.Y, d.T, t_w, offset), part)
    *fitted, failed = _keep_well_posed(logistic, linear)
    return tuple(fitted), failed


def _row_slopes(fitted: Fitted, part: Partition) -> np.ndarray:
    """(n,) each row's category slope (the pooled slope outside the identified categories)."""
    pooled, slopes, _, _ = fitted
    first = np.full(part.items.size, pooled[0])
    for c, (slope, _) in slopes.items():
        first[part.masks[c]] = slope
    return first


def _keep_well_posed(logistic: tuple, linear: tuple) -> tuple:
    """The logistic final stage's results, except where its score is ill-posed: a category whose
    slope or SE is not finite, or whose SE exceeds ILL_POSED_SE_RATIO x the linear stage's (the
    instrument T − m_w makes the Jacobian non-symmetric; with few purchases in a group it can be
    near-singular), keeps the linear stage's slope and deviations; so does the pooled slope and the
    shared fit. Returns (pooled, slopes, devs, shared, the categories that fell back)."""
    (pooled, slopes, devs, shared), (pooled_lin, slopes_lin, devs_lin, shared_lin) = logistic, linear

    def bad(fit: tuple[float, float], ref: tuple[float, float]) -> bool:
        return not (np.isfinite(fit[0]) and np.isfinite(fit[1]) and fit[1] <= ILL_POSED_SE_RATIO * ref[1])

    failed = {c for c in slopes if bad(slopes[c], slopes_lin[c])}
    slopes = {c: slopes_lin[c] if c in failed else v for c, v in slopes.items()}
    devs = [d for d in devs if d["category"] not in failed] + [d for d in devs_lin if d["category"] in failed]
    if shared is not None and not all(np.isfinite(d["dev"]) and np.isfinite(d["dev_se"]) or np.isnan(d["dev_se"]) for d in shared):
        shared = shared_lin
    return (pooled_lin if bad(pooled, pooled_lin) else pooled), slopes, devs, shared, failed


def offer_noise_variance(window: pl.DataFrame) -> np.ndarray | None:
    """Each row's inferred-offer sampling variance (offer points²; 0 where the offer was recorded),
    or None where the rows do not carry it (rows made by hand; a prepared panel always does). A row without one
    (fewer than 2 other buyers to measure it from) gets its category's mean."""
    if OFFER_NOISE not in window.columns:
        return None
    v = pl.col(OFFER_NOISE).cast(pl.Float64)
    return window.select(v.fill_null(v.mean().over("category")).fill_null(0.0)).to_series().to_numpy()


def offer_reliability(t_res: np.ndarray, noise: np.ndarray, q: np.ndarray) -> float:
    """The share of the final stage's offer variation that is signal, not the inferred offer's
    sampling error: 1 − Σ q² σ²_u / Σ q² (T − m_T)². The linear stage's slope converges to this
    share of the true slope (classical measurement error in the regressor q (T − m_T); Fuller 1987),
    so dividing by it de-attenuates. 1 where the offers were recorded."""
    w = q**2
    total = float(np.sum(w * t_res**2))
    return 1.0 - float(np.sum(w * noise)) / total if total > 0 else np.nan


def _deattenuate(fitted: Fitted, reliability: dict, pooled_reliability: float) -> Fitted:
    """One repetition's estimates divided by their offer reliability (regression calibration): the
    pooled slope, each identified category's slope and SE, and its group deviations."""
    pooled, slopes, devs, shared = fitted
    # Never divided by less than MIN_OFFER_RELIABILITY: one repetition's share can dip below the mean
    # that identified the category, and the pooled share spans every row when none is identified.
    div = {c: max(reliability[c], MIN_OFFER_RELIABILITY) for c in slopes}
    slopes = {c: (s / div[c], se / div[c]) for c, (s, se) in slopes.items()}
    devs = [{**d, "dev": d["dev"] / div[d["category"]], "dev_se": d["dev_se"] / div[d["category"]]} for d in devs]
    pooled_div = max(pooled_reliability, MIN_OFFER_RELIABILITY) if np.isfinite(pooled_reliability) else 1.0
    return (pooled[0] / pooled_div, pooled[1] / pooled_div), slopes, devs, shared
