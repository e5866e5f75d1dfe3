"""Offer response from observational promotion data: double/debiased ML (R-learner) with groups,
intervals and hierarchical empirical-Bayes shrinkage. A pure module: panel rows in, slopes out.
docs/response.md has the estimator in a page and its measured accuracy.

Model, per row i (consumer-item pair x period) of a category c:

    Y_i = m_Y(X_i) + a(X_i) · q_i · (T_i − m_T(X_i)) + noise,    q_i = m_Y(X_i) (1 − m_Y(X_i))

Y = target (bought), T = offer_pct, X = every panel feature except the offer, the ids and text,
plus derived item-history controls (`item_history`). The nuisances m_Y = E[Y | X] (LightGBM
classifier) and m_T = E[T | X] (LightGBM regressor) are cross-fitted by EconML's LinearDML, with the
folds grouped by item: an item's offer is shared by all its consumers, so a fold must not learn an
item-period's offer from the same item-period's other rows.

The final stage is the residual-on-residual regression Y − m_Y on q · (T − m_T) (times group
indicators), by hand. A logistic response has dP/dT = a · p(1 − p), so with q from the outcome
nuisance the coefficients are the optimiser's *logit* slopes per offer point
(logit p(o) = logit f + slope · (o − k)). With one group this is the probability-scale DML effect
divided by the group's mean p(1 − p) (weighted as the regression weights rows); q is treated as
fixed in the standard errors, and since it depends on X only the moment stays orthogonal.

Written here because the libraries lack it: the final stage (EconML's linear final stage offers only
HC0/HC1 covariances, but the offer varies by item x period and an item's rows share its demand
shocks, so the intervals need a covariance clustered by item; the logit conversion needs q inside
the regression) and the empirical-Bayes shrinkage. EconML does the cross-fitting; its own
probability-scale effect of the whole sample is kept in `info` as a cross-check.

Heterogeneity (additive on the logit scale, a stated assumption):

    a(X) = slope_c + δ_c,age(X) + δ_c,price(X) + δ_c,past_response(X)

age: demo_age_range / demo_age ("missing" a level of its own); price: tercile of i_regular_price
within the category; past_response: quintile within the category of the consumer's past response
to offers (`_past_response`). Deviations are effects-coded, so they average to 0 over the
category's rows and slope_c is the category's mean slope over its rows. Shrinkage, per level, two
steps, each with τ² by the method of moments from raw estimates and their SEs, floored at 0:
1. shared relative effects r_g (one per group, all categories: a(X) = slope_c (1 + Σ r_g)) are shrunk
   toward 0;
2. each category's deviation δ_cg is shrunk toward slope_c · r*_g, its share of the shared effect.
A category with little data thus follows the groups' common pattern; with no evidence of a
pattern anywhere, deviations are 0.

Identification: a category is identified when both its residual offer SD (T − m_T) and its offer SD
within items (T − the item's mean offer in the window) are at least MIN_RESID_SD points, and it has
at least MIN_OFFER_ROWS rows and MIN_OFFER_ITEMS items with a non-zero offer. The second SD guards
against an offer model that misses a category's fixed offers: its errors would pass for variation.
Otherwise (and for a category not in the estimation rows) it gets the pooled slope of the
identified categories with SE √(se_pooled² + τ²_categories): the uncertainty of a category drawn
from the others.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats
from scipy.special import expit, logit

from offerwise.config import OptionError
from offerwise.features.manifest import Feature
from offerwise.features.offers import OFFER_NOISE

TREATMENT = "offer_pct"
OUTCOME = "target"
AGE_COLUMNS = ("demo_age_range", "demo_age")
PRICE_COLUMN = "i_regular_price"
LEVELS = ("age", "price", "past_response")
QUANTILES = {"price": 3, "past_response": 5}  # groups per level (quantiles within category)
MISSING = "missing"

MIN_RESID_SD = 1.0  # offer points: less residual offer variation cannot identify a slope
MIN_OFFER_ROWS = 200  # rows with a non-zero offer
MIN_OFFER_ITEMS = 5  # distinct items with a non-zero offer (the clusters that carry the variation)
MIN_OFFER_RELIABILITY = (
    0.5  # share of the residual offer variance that is not the inferred offer's sampling error (fixed a priori, docs/response.md)
)
MIN_GROUP_ROWS = 100  # a group with fewer rows gets no deviation of its own (its shared effect only)
ILL_POSED_SE_RATIO = 5.0  # a logistic-stage SE this many times the linear stage's marks an ill-posed score
MAX_LOGIT_STEP = 0.5  # the logistic final stage's Newton steps move no row's logit further (it diverged from 0 unguarded)
MAX_CATEGORICAL_LEVELS = 255  # string / categorical controls with more levels are text: dropped

# Nuisances: few, regularised trees (speed: ~300k rows in well under a minute on 2 cores). The
# offer is set per item and period and repeated over the item's consumers, so small leaves fit
# item-period noise (R² of the offer model below 0 under random promotions); hence its large leaves.
# n_jobs=1: two OpenMP threads on a busy 2-core machine ran 20-50x slower than one.
LGBM_Y = dict(
    n_estimators=150, num_leaves=15, learning_rate=0.05, min_child_samples=300, subsample=0.8, subsample_freq=1, colsample_bytree=0.8
)
LGBM_T = dict(
    n_estimators=100, num_leaves=7, learning_rate=0.05, min_child_samples=1000, subsample=0.8, subsample_freq=1, colsample_bytree=0.8
)

GROUP_SCHEMA = {
    "category": pl.String,
    "level": pl.String,
    "group": pl.String,
    "slope_raw": pl.Float64,
    "se": pl.Float64,
    "slope": pl.Float64,
    "n_rows": pl.Int64,
    "category_slope": pl.Float64,
    "shared_rel": pl.Float64,
    "shrink": pl.Float64,
    "post_sd": pl.Float64,
}
SHARED_SCHEMA = {
    "level": pl.String,
    "group": pl.String,
    "rel_raw": pl.Float64,
    "rel_se": pl.Float64,
    "rel": pl.Float64,
    "rel_sd": pl.Float64,
    "n_rows": pl.Int64,
}


@dataclass
class ResponseEstimate:
    categories: pl.DataFrame  # category, slope, se, low, high, n_rows, offer_resid_sd, identified, method, offer_within_sd, mean_q, rows_offered, offer_reliability
    groups: pl.DataFrame  # category, level, group, slope_raw, se, slope (shrunk), n_rows, category_slope, shared_rel, shrink, post_sd
    shared: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SHARED_SCHEMA))  # relative group effects, all categories
    pooled: dict = field(default_factory=dict)  # slope, se, tau2 (between categories), se_wide
    cuts: dict = field(default_factory=dict)  # (category, level) -> quantile cut points
    info: dict = field(default_factory=dict)  # rows, controls, seconds, econml cross-check

    def to_dict(self) -> dict:
        """JSON-ready: the tables as row lists, the cut points as [category, level, cuts] rows."""
        return {
            "categories": self.categories.to_dicts(),
            "groups": self.groups.to_dicts(),
            "shared": self.shared.to_dicts(),
            "pooled": self.pooled,
            "cuts": [[category, level, cuts] for (category, level), cuts in self.cuts.items()],
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ResponseEstimate:
        """The inverse of to_dict (a later decision reuses an estimate without refitting it)."""
        return cls(
            categories=pl.DataFrame(data["categories"], infer_schema_length=None),
            groups=pl.DataFrame(data["groups"], schema=GROUP_SCHEMA),
            shared=pl.DataFrame(data["shared"], schema=SHARED_SCHEMA),
            pooled=dict(data["pooled"]),
            cuts={(category, level): cuts for category, level, cuts in data["cuts"]},
            info=dict(data["info"]),
        )

    def pair_slopes(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """pairs: decided-period panel rows (customer_id, item_id, category and the feature columns;
        pass all of a consumer's rows, as the past response is the consumer's mean over them).

        Returns customer_id, item_id, slope_mean, slope_sd, category_se in the order of `pairs`. slope_mean = the
        category slope + the pair's groups' shrunk deviations (additive), floored at 0: a deeper offer
        never lowers the probability. A group the category did not estimate gets its shared relative
        effect x the category slope. slope_sd = √(se_c² + Σ posterior variances), the covariances
        between the terms ignored; category_se = se_c alone (the part all the category's pairs share)."""
        g = _group_columns(pairs, self.cuts).with_row_index("__row")
        cats = self.categories.select("category", __slope="slope", __se="se")
        out = g.join(cats, on="category", how="left").with_columns(
            __slope=pl.col("__slope").fill_null(self.pooled.get("slope", 0.0)),
            __se=pl.col("__se").fill_null(self.pooled.get("se_wide", 0.0)),
        )
        dev_total, var_total = pl.lit(0.0), pl.col("__se") ** 2
        for level in LEVELS:
            key = f"__g_{level}"
            own = self.groups.filter(pl.col("level") == level).select(
                "category",
                pl.col("group").alias(key),
                (pl.col("slope") - pl.col("category_slope")).alias("__d"),
                pl.col("post_sd").alias("__s"),
            )
            shared = self.shared.filter(pl.col("level") == level).select(
                pl.col("group").alias(key), pl.col("rel").alias("__r"), pl.col("rel_sd").alias("__rs")
            )
            out = out.join(own, on=["category", key], how="left").join(shared, on=key, how="left")
            out = out.with_columns(
                pl.coalesce("__d", pl.col("__slope") * pl.col("__r"), pl.lit(0.0)).alias(f"__d_{level}"),
                pl.coalesce("__s", pl.col("__slope").abs() * pl.col("__rs"), pl.lit(0.0)).alias(f"__s_{level}"),
            ).drop("__d", "__s", "__r", "__rs")
            dev_total = dev_total + pl.col(f"__d_{level}")
            var_total = var_total + pl.col(f"__s_{level}") ** 2
        return out.sort("__row").select(
            "customer_id",
            "item_id",
            slope_mean=pl.max_horizontal(pl.col("__slope") + dev_total, pl.lit(0.0)).cast(pl.Float64),
            slope_sd=var_total.sqrt().cast(pl.Float64),
            category_se=pl.col("__se").cast(pl.Float64),
        )


# ---------------------------------------------------------------- data preparation


def _window(rows: pl.DataFrame, cutoff: int, periods: int) -> pl.DataFrame:
    """Labelled rows of periods (cutoff − periods, cutoff]; nothing after the cutoff."""
    return rows.filter((pl.col("period") > cutoff - periods) & (pl.col("period") <= cutoff) & pl.col(OUTCOME).is_not_null())


def _subsample(rows: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """At most max_rows rows, stratified by category: every category keeps min(its rows, cap), the cap
    the largest that fits, so small categories keep all their rows (seeded)."""
    if rows.height <= max_rows:
        return rows
    n = np.sort(rows.group_by("category").len().get_column("len").to_numpy())
    cap, left = max_rows, max_rows
    for k, size in enumerate(n):
        share = left // (n.size - k)
        if size > share:
            cap = share
            break
        left -= int(size)
    u = pl.Series("__u", np.random.default_rng(seed).random(rows.height))
    return rows.with_columns(u).filter(pl.col("__u").rank("ordinal").over("category") <= cap).drop("__u")


def control_columns(rows: pl.DataFrame, features: list[Feature]) -> list[str]:
    """Every feature except the offer, the ids and text (strings with many levels)."""
    out = []
    for f in features:
        if f.name == TREATMENT or f.is_id or f.name not in rows.columns:
            continue
        if _is_text(rows.schema[f.name]) and rows.get_column(f.name).n_unique() > MAX_CATEGORICAL_LEVELS:
            continue
        out.append(f.name)
    return out


def _is_text(dtype) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _control_matrix(rows: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float32 matrix for LightGBM: numerics as they are (nulls NaN), categoricals as integer codes
    (dense rank of the level's text)."""
    exprs = [
        (pl.col(c).cast(pl.String).rank("dense") if _is_text(rows.schema[c]) else pl.col(c)).cast(pl.Float32).alias(c) for c in columns
    ]
    return rows.select(exprs).to_numpy().astype(np.float32)


def item_history(rows: pl.DataFrame, cutoff: int) -> pl.DataFrame:
    """Derived item controls per (item_id, period), each from before the period (offers and buyer
    counts the retailer knew when it set the period's offer; no row after the cutoff is read): the
    item's offer in t−1 and t−2, its buyers in t−1 and t−2, whether t−1 was promoted (offer above the
    item's lowest so far), its mean offer over all earlier periods, and t−1's sales surprise in
    Poisson SDs against the item's mean over all earlier periods and over earlier periods of the same
    promotion status. A retailer that marks items
    down after weak sales decides from this kind of signal; the panel's own features (i_buyers_last,
    i_buyers_mean, offer lags averaged over 2+ periods) do not state it: a first version without it
    came out 14-23 % too flat under targeted promotions on a large simulation (docs/response.md). Reads every
    row up to the cutoff, also before the estimation window, for the history."""
    empty = pl.DataFrame(schema={"item_id": rows.schema.get("item_id", pl.Int64), "period": rows.schema.get("period", pl.Int64)})
    if not {"item_id", "period", TREATMENT, "i_buyers_last"} <= set(rows.columns):
        return empty
    ip = (
        rows.filter(pl.col("period") <= cutoff)
        .group_by("item_id", "period")
        .agg(offer=pl.col(TREATMENT).cast(pl.Float64).mean(), buyers_prev=pl.col("i_buyers_last").cast(pl.Float64).first())
    )
    if ip.height == 0:
        return empty
    items = ip.get_column("item_id").unique().sort()
    lo, hi = int(ip.get_column("period").min()), int(ip.get_column("period").max())
    ii = items.search_sorted(ip.get_column("item_id")).to_numpy()
    pp = ip.get_column("period").to_numpy().astype(int) - lo
    O = np.full((items.len(), hi - lo + 1), np.nan)  # O[:, u]: offer in period lo + u
    O[ii, pp] = ip.get_column("offer").to_numpy()
    S = np.full_like(O, np.nan)  # S[:, u]: buyers in period lo + u, read from the rows of u + 1
    ok = pp >= 1
    S[ii[ok], pp[ok] - 1] = ip.get_column("buyers_prev").to_numpy()[ok]
    everyday = np.fmin.accumulate(np.where(np.isnan(O), np.inf, O), axis=1)
    promoted = O > everyday + 0.5
    nan = np.full(items.len(), np.nan)
    out = []
    for t in range(O.shape[1]):
        f = {
            "ih_offer_1": O[:, t - 1] if t >= 1 else nan,
            "ih_offer_2": O[:, t - 2] if t >= 2 else nan,
            "ih_buyers_1": S[:, t - 1] if t >= 1 else nan,
            "ih_buyers_2": S[:, t - 2] if t >= 2 else nan,
            "ih_promoted_1": np.where(np.isnan(O[:, t - 1]), np.nan, promoted[:, t - 1]) if t >= 1 else nan,
            "ih_surprise": nan,
            "ih_surprise_same": nan,
            "ih_offer_mean": np.nanmean(O[:, :t], axis=1) if t >= 1 and not np.isnan(O[:, :t]).all() else nan,
        }
        if t >= 2:
            past, last = S[:, : t - 1], S[:, t - 1]
            seen = ~np.isnan(past)
            same = seen & (promoted[:, : t - 1] == promoted[:, t - 1, None])
            for name, mask in (("ih_surprise", seen), ("ih_surprise_same", same)):
                base = np.where(mask, past, 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
                f[name] = np.where(mask.any(axis=1), (last - base) / np.sqrt(base + 1), np.nan)
        out.append(pl.DataFrame({"item_id": items, "period": np.full(items.len(), lo + t), **f}))
    return pl.concat(out).with_columns(pl.col("period").cast(rows.schema["period"]))


# ---------------------------------------------------------------- groups


def _past_response(frame: pl.DataFrame) -> pl.Expr:
    """The consumer's past response to offers at the row's period: the mean over the consumer's rows
    of that period of (offer % on the pair's own purchases − the offer % the item carried over the
    last 8 periods). A consumer who buys when offers are deep scores high; pairs without purchases
    (ci_hist_offer_pct falls back to the item's history) score about 0. Pre-period features only."""
    if "ci_hist_offer_pct" not in frame.columns:
        return pl.lit(None, pl.Float64)
    lag = next((c for c in ("lag_offer_pct_mean_8", "lag_offer_pct_mean_4", "lag_offer_pct_mean_2") if c in frame.columns), None)
    own = pl.col("ci_hist_offer_pct").cast(pl.Float64) - (pl.col(lag).cast(pl.Float64).fill_null(0.0) if lag else 0.0)
    return own.mean().over("customer_id", "period")


def _group_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, item_id, category and the raw values behind the groups."""
    age = next((c for c in AGE_COLUMNS if c in frame.columns), None)
    return frame.select(
        "customer_id",
        "item_id",
        pl.col("category").cast(pl.String),
        __age=(pl.col(age).cast(pl.String).fill_null(MISSING) if age else pl.lit(MISSING)),
        __price=(pl.col(PRICE_COLUMN).cast(pl.Float64) if PRICE_COLUMN in frame.columns else pl.lit(None, pl.Float64)),
        __past_response=_past_response(frame) if "period" in frame.columns else pl.lit(None, pl.Float64),
    )


def _quantile_cuts(values: np.ndarray, k: int) -> list[float]:
    v = values[np.isfinite(values)]
    return [float(x) for x in np.unique(np.quantile(v, np.arange(1, k) / k))] if v.size else []


def _quantile_label(expr: pl.Expr, cuts: list[float] | None) -> pl.Expr:
    """q1 (lowest) ... qk; MISSING for nulls and for a category without cut points."""
    if cuts is None:
        return pl.lit(MISSING)
    label = pl.lit("q1")
    for k, c in enumerate(cuts, start=2):
        label = pl.when(expr > c).then(pl.lit(f"q{k}")).otherwise(label)
    return pl.when(expr.is_null() | expr.is_nan()).then(pl.lit(MISSING)).otherwise(label)


def _fit_cuts(frame: pl.DataFrame) -> dict:
    cuts = {}
    for (category,), part in _group_frame(frame).group_by("category"):
        for level in ("price", "past_response"):
            cuts[(category, level)] = _quantile_cuts(part.get_column(f"__{level}").to_numpy(), QUANTILES[level])
    return cuts


def _group_columns(frame: pl.DataFrame, cuts: dict) -> pl.DataFrame:
    """customer_id, item_id, category, __g_age, __g_price, __g_past_response (group labels), in the
    frame's order."""
    g = _group_frame(frame).with_row_index("__row")
    parts = [
        part.with_columns(
            **{f"__g_{lv}": _quantile_label(pl.col(f"__{lv}"), cuts.get((category, lv))) for lv in ("price", "past_response")}
        )
        for (category,), part in g.group_by("category")
    ]
    if not parts:
        return g.select("customer_id", "item_id", "category", *(pl.lit(None, pl.String).alias(f"__g_{lv}") for lv in LEVELS))
    return (
        pl.concat(parts)
        .sort("__row")
        .select("customer_id", "item_id", "category", pl.col("__age").alias("__g_age"), "__g_price", "__g_past_response")
    )


# ---------------------------------------------------------------- nuisances


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


def item_period_columns(window: pl.DataFrame, controls: list[str]) -> list[int] | None:
    """Indices of the controls that are constant within every item-period of the window, when the
    offer itself is (the retailer sets one offer per item and period); None otherwise (offers vary
    across an item-period's consumers, e.g. inferred or personalised: the offer model sees every
    control)."""
    columns = [TREATMENT, *controls]
    counts = window.group_by("item_id", "period").agg(pl.col(c).n_unique() for c in columns).select(pl.col(columns).max())
    if counts.height == 0 or counts.item(0, TREATMENT) > 1:
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
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import GroupKFold

    y_params, t_params = _nuisance_params(Y.size, folds, seed)
    est = LinearDML(
        model_y=LGBMClassifier(**y_params),
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


def reused_logistic_nuisances(
    Y: np.ndarray, T: np.ndarray, y_res: np.ndarray, t_res: np.ndarray, slope: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The logistic final stage's nuisances from the linear stage's, with no further fit:
    r̂(X) = logit m_Y(X) − slope · m_T(X) and the instrument T − m_T. r̂ ignores that the logit of an
    average is not the average logit over the offers a row might have had, and m_T is not weighted
    by p (1 − p); the score is orthogonal in r, so the first error enters only multiplied by the
    second (Liu, Zhang and Zhou 2021). Why: the refit's fits nearly double the estimate's time on the
    Complete Journey; reusing adds 3 % to the linear stage's (docs/response.md)."""
    return logit(np.clip(Y - y_res, 1e-4, 1 - 1e-4)) - slope * (T - t_res), t_res


# ---------------------------------------------------------------- final stage


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


def _cluster_fit(D: np.ndarray, final: _Final, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solves Σ_i (y_i − g((D_i x_i) β + offset_i)) D_i z_i = 0 (g: identity, or expit for the
    logistic stage) by Newton steps, halved while the score's norm grows, and returns β with the
    sandwich covariance clustered by `clusters` (CR1: G/(G−1) · (n−1)/(n−k)). The linear case is
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
    _, idx = np.unique(clusters, return_inverse=True)
    G = int(idx.max()) + 1
    scores = np.zeros((G, D.shape[1]))
    np.add.at(scores, idx, Zi * u[:, None])
    n, k = D.shape
    adj = (G / max(G - 1, 1)) * ((n - 1) / max(n - k, 1))
    return beta, adj * inv @ (scores.T @ scores) @ inv.T


def _tau2(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian–Laird method-of-moments between-estimate variance around a common mean, floored at 0."""
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    est, se = est[ok], se[ok]
    if est.size < 2:
        return 0.0
    w = 1 / se**2
    Q = float(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2))
    denom = w.sum() - np.sum(w**2) / w.sum()
    return max(0.0, (Q - (est.size - 1)) / denom) if denom > 0 else 0.0


def _tau2_centred(est: np.ndarray, se: np.ndarray, groups_per_set: float) -> float:
    """Method-of-moments variance of deviations that sum to 0 within each set of G groups:
    E[δ²] ≈ τ² (G − 1)/G + se², so τ² = max(0, mean(δ² − se²)) · G/(G − 1)."""
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    if ok.sum() < 2 or groups_per_set < 2:
        return 0.0
    return max(0.0, float(np.mean(est[ok] ** 2 - se[ok] ** 2))) * groups_per_set / (groups_per_set - 1)


@dataclass
class _Effect:
    level: str
    group: str
    n_rows: int
    w: np.ndarray | None  # deviation = w · (effects coefficients); None: too few rows, no own deviation


def _effects_columns(labels: dict[str, np.ndarray]) -> tuple[np.ndarray, list[_Effect]]:
    """Effects coding per level, weighted by group size, so a level's deviations average to 0 over
    the rows and the intercept is the mean slope. The largest group's deviation is implied
    (−Σ n_g δ_g / n_largest); groups under MIN_GROUP_ROWS get no column."""
    n = next(iter(labels.values())).size
    columns, effects = [], []
    for level, lab in labels.items():
        names, counts = np.unique(lab, return_counts=True)
        big = [(str(g), int(c)) for g, c in zip(names, counts) if c >= MIN_GROUP_ROWS]
        small = [_Effect(level, str(g), int(c), None) for g, c in zip(names, counts) if c < MIN_GROUP_ROWS]
        if len(big) < 2:
            effects += [_Effect(level, g, c, None) for g, c in big] + small
            continue
        base, n_base = max(big, key=lambda t: t[1])
        base_w = {}
        for g, c in big:
            if g != base:
                base_w[len(columns)] = -c / n_base
                effects.append(_Effect(level, g, c, len(columns)))  # column index for now
                columns.append((lab == g).astype(float) - (c / n_base) * (lab == base).astype(float))
        effects.append(_Effect(level, base, n_base, base_w))
        effects += small
    E = np.column_stack(columns) if columns else np.zeros((n, 0))
    for e in effects:  # column indices / implied weights -> weight vectors
        if isinstance(e.w, int):
            w = np.zeros(E.shape[1])
            w[e.w] = 1.0
            e.w = w
        elif isinstance(e.w, dict):
            w = np.zeros(E.shape[1])
            for j, v in e.w.items():
                w[j] = v
            e.w = w
    return E, effects


def _deviations(effects: list[_Effect], beta: np.ndarray, V: np.ndarray) -> list[dict]:
    return [
        {
            "level": e.level,
            "group": e.group,
            "n_rows": e.n_rows,
            "dev": float(e.w @ beta) if e.w is not None else 0.0,
            "dev_se": float(np.sqrt(max(e.w @ V @ e.w, 0.0))) if e.w is not None else np.nan,
        }
        for e in effects
    ]


def _labels(groups: pl.DataFrame) -> dict[str, np.ndarray]:
    return {lv: groups.get_column(f"__g_{lv}").cast(pl.String).fill_null(MISSING).to_numpy() for lv in LEVELS}


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


def _shrink(dev: pl.DataFrame, shared: pl.DataFrame, slope_of: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two-level empirical Bayes per level (module docstring), τ² by the method of moments:
    1. r*_g = B r_g, B = τ²_r / (τ²_r + se_g²), τ²_r from the shared effects and their SEs;
    2. δ*_cg = μ + B_cg (δ_cg − μ), μ = slope_c · r*_g, B_cg = τ² slope_c² / (τ² slope_c² + se_cg²),
       τ² from (δ_cg − μ) / slope_c of every category's groups of the level."""
    shared_out = []
    for (level,), part in shared.group_by("level", maintain_order=True):
        r, se = part.get_column("dev").to_numpy(), part.get_column("dev_se").to_numpy()
        ok = np.isfinite(se) & (se > 0)
        tau2 = _tau2_centred(r, se, ok.sum())
        B = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), 0.0)
        shared_out.append(
            part.select(
                "level",
                "group",
                rel_raw="dev",
                rel_se="dev_se",
                rel=pl.Series(B * r),
                rel_sd=pl.Series(np.sqrt(B) * np.where(ok, se, 0.0)),
                n_rows="n_rows",
            )
        )
    shared = pl.concat(shared_out) if shared_out else pl.DataFrame(schema=SHARED_SCHEMA)
    dev = dev.join(shared.select("level", "group", "rel", "rel_sd"), on=["level", "group"], how="left").with_columns(
        pl.col("rel").fill_null(0.0),
        pl.col("rel_sd").fill_null(0.0),
        category_slope=pl.col("category").replace_strict(slope_of, return_dtype=pl.Float64),
    )
    out = []
    for (level,), part in dev.group_by("level", maintain_order=True):
        scale = part.get_column("category_slope").to_numpy()
        d, se = part.get_column("dev").to_numpy(), part.get_column("dev_se").to_numpy()
        mu, mu_sd = scale * part.get_column("rel").to_numpy(), np.abs(scale) * part.get_column("rel_sd").to_numpy()
        ok = np.isfinite(se) & (se > 0) & (scale != 0)
        safe = np.where(ok, np.abs(scale), 1.0)
        per_cat = part.filter(pl.Series(ok)).group_by("category").len().get_column("len")
        tau2 = _tau2_centred(((d - mu) / safe)[ok], (se / safe)[ok], float(per_cat.mean()) if per_cat.len() else 0.0) * scale**2
        B = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), 0.0)
        shrunk = np.where(ok, mu + B * (d - mu), mu)
        post_sd = np.sqrt(B * np.where(ok, se, 0.0) ** 2 + ((1 - B) * mu_sd) ** 2)
        out.append(part.with_columns(dev_shrunk=pl.Series(shrunk), shrink=pl.Series(B), post_sd=pl.Series(post_sd)))
    return pl.concat(out), shared


# ---------------------------------------------------------------- entry points


def _median_combine(estimates: np.ndarray, ses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeated cross-fitting (Chernozhukov et al. 2018, §3.4): the median estimate, and a variance
    that adds each repetition's distance from it: median(se_r² + (θ_r − θ)²). Axis 0 = repetitions."""
    theta = np.median(estimates, axis=0)
    return theta, np.sqrt(np.median(ses**2 + (estimates - theta) ** 2, axis=0))


def _one_blas_thread(fn: Callable) -> Callable:
    """Run with one BLAS thread: the final stage's products (300k x 40) ran 1 s with two OpenBLAS threads
    on an idle 2-core machine and 15 s beside another busy process, against 0.3 s with one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def design(
    rows: pl.DataFrame, features: list[Feature], *, cutoff: int, periods: int, max_rows: int, seed: int
) -> tuple[pl.DataFrame, list[str], np.ndarray, np.ndarray, np.ndarray]:
    """What the estimate fits on: the labelled rows of periods (cutoff − periods, cutoff] (at most
    max_rows, sampled by pair), sorted by category, consumer, item and period, with the item's
    promotion history joined; their control columns, control matrix W, outcome Y and offer T."""
    window = _subsample(_window(rows, cutoff, periods), max_rows, seed)
    if window.height == 0:
        raise ValueError(f"no labelled rows in periods ({cutoff - periods}, {cutoff}]")
    window = window.with_columns(pl.col("category").cast(pl.String)).sort("category", "customer_id", "item_id", "period")
    history = item_history(rows, cutoff)
    window = window.join(history, on=["item_id", "period"], how="left", maintain_order="left")
    controls = control_columns(window, features) + [c for c in history.columns if c not in ("item_id", "period")]
    Y = window.get_column(OUTCOME).cast(pl.Float64).to_numpy()
    T = window.get_column(TREATMENT).cast(pl.Float64).fill_null(0.0).to_numpy()
    return window, controls, _control_matrix(window, controls), Y, T


@_one_blas_thread
def estimate_response(
    rows: pl.DataFrame,
    features: list[Feature],
    *,
    cutoff: int,
    periods: int = 16,
    max_rows: int = 200_000,
    level: float = 0.90,
    seed: int = 0,
    folds: int = 2,
    repeats: int = 2,
    final_stage: str = "linear",
    offer_model: str = "item_period",
    offer_noise: str = "correct",
    logistic_fit: str = "refit",
) -> ResponseEstimate:
    """The offer response (logit slope per offer point) of the rows' categories, from the labelled
    periods (cutoff − periods, cutoff]; no row after the cutoff is read. The cross-fitting (`folds`
    folds grouped by item) is repeated `repeats` times with different splits and the final-stage
    estimates combined by `_median_combine`, so the intervals include the variation that the
    nuisance fits bring (refitting them moved a slope by 0.2–1.1 SE on one fixed data set).

    `offer_noise = "correct"`: where the rows carry the inferred offer's sampling variance
    (OFFER_NOISE), each category's slope, SE and group deviations are divided by the offer's
    reliability (`offer_reliability`; regression calibration for classical measurement error), and a
    category whose reliability is below MIN_OFFER_RELIABILITY is not identified. "ignore": neither."""
    started = time.perf_counter()
    window, controls, W, Y, T = design(rows, features, cutoff=cutoff, periods=periods, max_rows=max_rows, seed=seed)
    items = window.get_column("item_id").to_numpy()
    cats = window.get_column("category").to_numpy()
    cuts = _fit_cuts(window)
    groups = _group_columns(window, cuts)
    z = float(stats.norm.ppf(0.5 + level / 2))

    offer_columns = item_period_columns(window, controls) if offer_model == "item_period" else None
    if np.unique(items).size < folds:  # cross-fitting folds are groups of items
        raise OptionError(
            f"The 'response.folds' option ({folds}) is more than the {np.unique(items).size} items the offer response is "
            "cross-fitted over; use fewer folds."
        )
    fits = [cross_fit(Y, T, W, items, folds=folds, seed=seed + r, offer_columns=offer_columns) for r in range(repeats)]
    names = [str(c) for c in np.unique(cats)]
    masks = {c: cats == c for c in names}
    within = T - window.select(pl.col(TREATMENT).cast(pl.Float64).mean().over("item_id")).to_series().to_numpy()
    noise = offer_noise_variance(window) if offer_noise == "correct" else None
    weights = [_final_weights(Y, y_res) for y_res, _, _ in fits]
    # Each repetition's reliability per category: their mean identifies, each corrects its own repetition.
    reliabilities = [
        {c: offer_reliability(t_res[masks[c]], noise[masks[c]], q[masks[c]]) for c in names} if noise is not None else {}
        for (_, t_res, _), q in zip(fits, weights)
    ]
    cat_rows = []
    for c in names:
        m, offered = masks[c], masks[c] & (T > 0)
        resid_sd = float(np.mean([np.std(t_res[m]) for _, t_res, _ in fits]))
        within_sd = float(np.sqrt(np.mean(within[m] ** 2)))
        reliability = np.nan if noise is None else float(np.mean([rel[c] for rel in reliabilities]))
        cat_rows.append(
            {
                "category": c,
                "n_rows": int(m.sum()),
                "offer_resid_sd": resid_sd,
                "offer_within_sd": within_sd,
                "rows_offered": int(offered.sum()),
                "offer_reliability": reliability,
                "identified": bool(
                    min(resid_sd, within_sd) >= MIN_RESID_SD
                    and offered.sum() >= MIN_OFFER_ROWS
                    and np.unique(items[offered]).size >= MIN_OFFER_ITEMS
                    and not reliability < MIN_OFFER_RELIABILITY  # NaN (no noise measured) passes
                ),
            }
        )
    ident = [r["category"] for r in cat_rows if r["identified"]]
    in_ident = np.isin(cats, ident)

    pooled_r, cat_r, dev_r, shared_r, mean_q, fallback = [], [], [], [], [], set()
    pool = in_ident if ident else np.ones(items.size, bool)  # the identified categories' rows
    for r, (y_res, t_res, _) in enumerate(fits):
        q = weights[r]
        final = _linear_final(y_res, q * t_res)  # the logit-scale regressor
        mean_q.append([float(np.mean(q[masks[c]])) for c in names])
        pooled_fit, slopes, devs, shared_fit = _final_stage(final, cats, ident, pool, masks, groups, items)
        if final_stage == "logistic":
            first = np.full(Y.size, pooled_fit[0])
            for c, (slope, _) in slopes.items():
                first[masks[c]] = slope
            if logistic_fit == "reuse":
                offset, t_w = reused_logistic_nuisances(Y, T, y_res, t_res, first)
            else:
                offset, t_w = logistic_nuisances(Y, T, W, items, first, folds=folds, seed=seed + r, offer_columns=offer_columns)
            logistic = _final_stage(_Final(True, Y, T, t_w, offset), cats, ident, pool, masks, groups, items)
            pooled_fit, slopes, devs, shared_fit, failed = _keep_well_posed(logistic, (pooled_fit, slopes, devs, shared_fit))
            fallback |= failed
        if noise is not None:
            scale = {c: reliabilities[r][c] for c in ident}
            pooled_fit, slopes, devs = _deattenuate(pooled_fit, slopes, devs, scale, offer_reliability(t_res[pool], noise[pool], q[pool]))
        pooled_r.append(pooled_fit)
        cat_r.append(slopes)
        dev_r.append(devs)
        if shared_fit is not None:
            shared_r.append(shared_fit)

    p_est, p_se = _median_combine(np.array([[p[0]] for p in pooled_r]), np.array([[p[1]] for p in pooled_r]))
    pooled = {"slope": float(p_est[0]), "se": float(p_se[0])}
    est_c, se_c = _median_combine(np.array([[r[c][0] for c in ident] for r in cat_r]), np.array([[r[c][1] for c in ident] for r in cat_r]))
    slope_of = dict(zip(ident, est_c.tolist()))
    se_of = dict(zip(ident, se_c.tolist()))
    pooled["tau2"] = _tau2(est_c, se_c) if ident else 0.0
    pooled["se_wide"] = float(np.sqrt(pooled["se"] ** 2 + pooled["tau2"]))
    mq = np.mean(mean_q, axis=0)
    for r, q_mean in zip(cat_rows, mq):
        r["mean_q"] = float(q_mean)
        if r["identified"]:
            stage = final_stage if r["category"] not in fallback else "linear (the logistic stage was ill-posed)"
            reused = ", its nuisances the linear stage's" if stage == "logistic" and logistic_fit == "reuse" else ""
            corrected = ", divided by the offer's reliability" if noise is not None else ""
            r.update(
                slope=slope_of[r["category"]],
                se=se_of[r["category"]],
                method=f"dml ({stage} final stage{reused}, {repeats}x{folds}-fold cross-fitting, item-clustered SE{corrected})",
            )
        else:
            r.update(
                slope=pooled["slope"],
                se=pooled["se_wide"],
                method=(
                    f"pooled (all categories): not identified (offer SD within items {r['offer_within_sd']:.2f} pt, residual "
                    f"{r['offer_resid_sd']:.2f} pt, {r['rows_offered']} rows with an offer"
                    + (f", offer reliability {r['offer_reliability']:.2f})" if np.isfinite(r["offer_reliability"]) else ")")
                ),
            )
        r["low"], r["high"] = r["slope"] - z * r["se"], r["slope"] + z * r["se"]
    categories = pl.DataFrame(cat_rows).select(
        "category",
        "slope",
        "se",
        "low",
        "high",
        "n_rows",
        "offer_resid_sd",
        "identified",
        "method",
        "offer_within_sd",
        "mean_q",
        "rows_offered",
        "offer_reliability",
    )

    group_table, shared = pl.DataFrame(schema=GROUP_SCHEMA), pl.DataFrame(schema=SHARED_SCHEMA)
    if ident:
        dev = _combine_rows(dev_r, ["category", "level", "group"])
        shared_raw = _combine_rows(shared_r, ["level", "group"])
        dev, shared = _shrink(dev, shared_raw, slope_of)
        group_table = dev.select(
            "category",
            "level",
            "group",
            slope_raw=pl.col("category_slope") + pl.col("dev"),
            se="dev_se",
            slope=pl.col("category_slope") + pl.col("dev_shrunk"),
            n_rows="n_rows",
            category_slope="category_slope",
            shared_rel="rel",
            shrink="shrink",
            post_sd="post_sd",
        ).cast(GROUP_SCHEMA)
    info = {
        "rows": window.height,
        "controls": len(controls),
        "folds": folds,
        "repeats": repeats,
        "final_stage": final_stage,
        "logistic_fit": logistic_fit if final_stage == "logistic" else None,
        "econml_effect_prob_scale": float(np.median([f[2] for f in fits])),
        "seconds": time.perf_counter() - started,
    }
    return ResponseEstimate(
        categories=categories, groups=group_table, shared=shared.cast(SHARED_SCHEMA), pooled=pooled, cuts=cuts, info=info
    )


def _final_weights(Y: np.ndarray, y_res: np.ndarray) -> np.ndarray:
    """q = m_Y (1 − m_Y): the linear final stage's logit-scale weight of each row."""
    q = np.clip(Y - y_res, 1e-4, 1 - 1e-4)
    return q * (1 - q)


def offer_noise_variance(window: pl.DataFrame) -> np.ndarray | None:
    """Each row's inferred-offer sampling variance (offer points²; 0 where the offer was recorded),
    or None where the rows do not carry it (a panel built before it existed). A row without one
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


def _deattenuate(pooled: tuple, slopes: dict, devs: list[dict], reliability: dict, pooled_reliability: float) -> tuple:
    """One repetition's estimates divided by their offer reliability (regression calibration): the
    pooled slope, each identified category's slope and SE, and its group deviations."""
    # Never divided by less than MIN_OFFER_RELIABILITY: one repetition's share can dip below the mean
    # that identified the category, and the pooled share spans every row when none is identified.
    div = {c: max(r, MIN_OFFER_RELIABILITY) for c, r in reliability.items()}
    slopes = {c: (s / div[c], se / div[c]) for c, (s, se) in slopes.items()}
    devs = [{**d, "dev": d["dev"] / div[d["category"]], "dev_se": d["dev_se"] / div[d["category"]]} for d in devs]
    pooled_div = max(pooled_reliability, MIN_OFFER_RELIABILITY) if np.isfinite(pooled_reliability) else 1.0
    return (pooled[0] / pooled_div, pooled[1] / pooled_div), slopes, devs


def _final_stage(
    final: _Final, cats: np.ndarray, ident: list[str], pool: np.ndarray, masks: dict, groups: pl.DataFrame, items: np.ndarray
) -> tuple[tuple[float, float], dict, list[dict], list[dict] | None]:
    """One repetition's final stage: the pooled slope over `pool`, each identified category's slope
    and group deviations, and the groups' relative effects shared by all identified categories."""
    beta, V = _cluster_fit(np.ones((int(pool.sum()), 1)), final.subset(pool), items[pool])
    slopes, devs = {}, []
    for c in ident:
        m = masks[c]
        slope, se, d = _category_fit(final.subset(m), groups.filter(pl.Series(m)), items[m])
        slopes[c] = (slope, se)
        devs += [{"category": c, **row} for row in d]
    shared = None
    if ident:
        shared = _shared_fit(
            final.subset(pool), cats[pool], {c: v[0] for c, v in slopes.items()}, groups.filter(pl.Series(pool)), items[pool]
        )
    return (float(beta[0]), float(np.sqrt(V[0, 0]))), slopes, devs, shared


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


def _combine_rows(per_repeat: list[list[dict]], keys: list[str]) -> pl.DataFrame:
    """dev / dev_se rows of every repetition -> one row per key, by `_median_combine` (a deviation
    without an SE, a group too small for its own, stays 0 with no SE)."""
    frames = [pl.DataFrame(rows).with_columns(pl.lit(r).alias("__rep")) for r, rows in enumerate(per_repeat) if rows]
    both = pl.concat(frames).sort([*keys, "__rep"])
    out = []
    for key, part in both.group_by(keys, maintain_order=True):
        d, se = part.get_column("dev").to_numpy(), part.get_column("dev_se").to_numpy()
        if np.isnan(se).any():
            est, err = 0.0, np.nan
        else:
            e, s_ = _median_combine(d[:, None], se[:, None])
            est, err = float(e[0]), float(s_[0])
        out.append({**dict(zip(keys, key)), "n_rows": int(part.get_column("n_rows").max()), "dev": est, "dev_se": err})
    return pl.DataFrame(out)


def permute_offers(rows: pl.DataFrame, *, cutoff: int, seed: int = 0) -> pl.DataFrame:
    """The labelled rows up to the cutoff with their offers permuted across periods within each item
    (seeded): every row of item i in period t gets the offer its pair faced in period π_i(t) (the
    item's mean offer there when the pair has no row then). The whole history is permuted, not only
    the estimation window, so the item-history controls describe the permuted offers and the item's
    usual offer level stays known to the offer model. About 1 period in n keeps its own offer (a
    uniform permutation), which carries ~1/n of the true effect into the placebo (n ≈ 28 periods on
    the simulator: +0.5 SE on average, docs/response.md); a derangement carries about as much with
    the opposite sign."""
    labelled = rows.filter((pl.col("period") <= cutoff) & pl.col(OUTCOME).is_not_null())
    rng = np.random.default_rng(seed)
    ip = labelled.select("item_id", "period").unique().sort("item_id", "period")
    perm = np.concatenate(
        [rng.permutation(part.get_column("period").to_numpy()) for _, part in ip.group_by("item_id", maintain_order=True)]
    )
    mapping = ip.with_columns(pl.Series("__from", perm).cast(labelled.schema["period"]))
    pair_offer = labelled.select("customer_id", "item_id", pl.col("period").alias("__from"), pl.col(TREATMENT).alias("__pair"))
    item_offer = labelled.group_by("item_id", pl.col("period").alias("__from")).agg(pl.col(TREATMENT).mean().alias("__item"))
    out = (
        labelled.with_row_index("__row")
        .join(mapping, on=["item_id", "period"], how="left")
        .join(pair_offer, on=["customer_id", "item_id", "__from"], how="left")
        .join(item_offer, on=["item_id", "__from"], how="left")
        .sort("__row")
    )
    return out.with_columns(pl.coalesce("__pair", "__item").cast(labelled.schema[TREATMENT]).alias(TREATMENT)).drop(
        "__row", "__from", "__pair", "__item"
    )


def placebo(rows: pl.DataFrame, features: list[Feature], *, cutoff: int, seed: int = 0, **kw) -> pl.DataFrame:
    """Offers permuted across periods within item (their link to purchases broken), re-estimated:
    every slope should be 0. Returns category, slope, low, high, covers_zero."""
    permuted = permute_offers(rows, cutoff=cutoff, seed=seed)
    est = estimate_response(permuted, features, cutoff=cutoff, seed=seed, **kw)
    return est.categories.select("category", "slope", "low", "high").with_columns(covers_zero=(pl.col("low") <= 0) & (pl.col("high") >= 0))
