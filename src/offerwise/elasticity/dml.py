"""Offer response from observational promotion data: double/debiased ML (R-learner) with groups,
intervals and empirical-Bayes shrinkage. A pure module: panel rows in, slopes out (docs/response.md).

Model, per row i (consumer-item pair x period) of a category c:

    Y_i = m_Y(X_i) + a(X_i) · q(X_i) · (T_i − m_T(X_i)) + noise,   q = m_Y (1 − m_Y)

Y = target (bought), T = offer_pct, X = every panel feature except the offer, the ids and text. The
two nuisances m_Y = E[Y | X] (LightGBM classifier) and m_T = E[T | X] (LightGBM regressor) are
cross-fitted by EconML's LinearDML with folds grouped by item (an item's offers are shared by all its
consumers and its demand shocks persist, so no fold may learn an item's offers from its other rows).
The final stage is the residual-on-residual regression, by hand: Y − m_Y on q · (T − m_T) times
group indicators. Its coefficients are *logit* slopes per offer point (the optimiser's
logit p(o) = logit f + slope · (o − k)): a logistic response has dP/dT = a · p(1 − p), and q from the
outcome nuisance converts the probability-scale effect row by row. With one group this is exactly
"the DML effect on the probability scale divided by the group's (weighted) mean p(1 − p)"; q is
treated as fixed in the standard errors. q depends on X only, so the moment stays orthogonal to
both nuisances.

Why the final stage is ours, not EconML's: EconML's linear final stage has only HC0/HC1 covariances,
while the offer varies by item x period and an item's rows share demand shocks, so honest intervals
need a covariance clustered by item; and the conversion to the logit scale needs q inside the
regression. EconML does the cross-fitting (LinearDML(..., X=None) with cached residuals); its own
probability-scale effect of the whole sample is kept as a cross-check (`ResponseEstimate.info`).
Also ours: the empirical-Bayes shrinkage (no library offers it for this layout).

Heterogeneity, within each category (additive on the logit scale, a stated assumption):

    a(X) = slope_c + δ_age(X) + δ_price(X) + δ_past_response(X)

age: demo_age_range / demo_age ("missing" a level of its own); price: tercile of i_regular_price
within the category; past_response: tercile within the category of the consumer's past response
to offers (see `_past_response`). Deviations are effects-coded so that they average to zero over
the category's rows: slope_c is the category's mean slope over its rows. Each level's deviations
are shrunk toward 0 by empirical Bayes: τ² (between-group variance) by the DerSimonian–Laird method
of moments from the groups' raw slopes and SEs, floored at 0; shrunk δ_g = δ_g · τ²/(τ² + se_g²).

Identification: a category is identified when its residual offer SD is at least MIN_RESID_SD
offer points and it has at least MIN_OFFER_ROWS rows and MIN_OFFER_ITEMS items with a non-zero
offer. Otherwise it gets the pooled (all-category) slope with SE √(se_pooled² + τ²_categories), the
between-category variance of the identified categories: the uncertainty of a category drawn from
the others.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats

from offerwise.features.manifest import Feature

TREATMENT = "offer_pct"
OUTCOME = "target"
AGE_COLUMNS = ("demo_age_range", "demo_age")
PRICE_COLUMN = "i_regular_price"
LEVELS = ("age", "price", "past_response")
MISSING = "missing"

MIN_RESID_SD = 1.0  # offer points: below this the residual variation cannot identify a slope
MIN_OFFER_ROWS = 200  # rows with a non-zero offer
MIN_OFFER_ITEMS = 5  # distinct items with a non-zero offer (the clusters that carry the variation)
MIN_GROUP_ROWS = 100  # a group with fewer rows gets no deviation of its own (0)
MAX_CATEGORICAL_LEVELS = 255  # string/categorical controls with more levels are text: dropped

LGBM_Y = dict(n_estimators=100, num_leaves=31, learning_rate=0.1, min_child_samples=50, subsample=0.8, subsample_freq=1, colsample_bytree=0.8)
LGBM_T = dict(n_estimators=100, num_leaves=31, learning_rate=0.1, min_child_samples=50, subsample=0.8, subsample_freq=1, colsample_bytree=0.8)


@dataclass
class ResponseEstimate:
    categories: pl.DataFrame  # category, slope, se, low, high, n_rows, offer_resid_sd, identified, method
    groups: pl.DataFrame  # category, level, group, slope_raw, se, slope, n_rows
    pooled: dict = field(default_factory=dict)  # slope, se, tau2 (between categories)
    cuts: dict = field(default_factory=dict)  # (category, level) -> tercile cut points
    info: dict = field(default_factory=dict)  # rows, seconds, econml cross-check, ...

    def pair_slopes(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """pairs: decided-period panel rows (customer_id, item_id, category and the feature columns).

        slope_mean = category slope + the pair's groups' shrunk deviations (additive), floored at 0:
        a deeper offer never lowers the probability. slope_sd = √(se_c² + Σ posterior variances),
        covariances between the terms ignored."""
        g = _group_columns(pairs, self.cuts)
        cats = self.categories.select("category", cat_slope="slope", cat_se="se")
        out = g.join(cats, on="category", how="left", maintain_order="left").with_columns(
            cat_slope=pl.col("cat_slope").fill_null(self.pooled.get("slope", 0.0)),
            cat_se=pl.col("cat_se").fill_null(self.pooled.get("se_wide", 0.0)),
        )
        dev_total = pl.lit(0.0)
        var_total = pl.col("cat_se") ** 2
        for level in LEVELS:
            dev = (
                self.groups.filter(pl.col("level") == level)
                .select("category", pl.col("group").alias(f"__g_{level}"), (pl.col("slope") - pl.col("category_slope")).alias(f"__d_{level}"),
                        pl.col("post_sd").alias(f"__s_{level}"))
            )  # fmt: skip
            out = out.join(dev, on=["category", f"__g_{level}"], how="left", maintain_order="left")
            dev_total = dev_total + pl.col(f"__d_{level}").fill_null(0.0)
            var_total = var_total + pl.col(f"__s_{level}").fill_null(0.0) ** 2
        return out.select(
            "customer_id", "item_id",
            slope_mean=pl.max_horizontal(pl.col("cat_slope") + dev_total, pl.lit(0.0)).cast(pl.Float64),
            slope_sd=var_total.sqrt().cast(pl.Float64),
        )  # fmt: skip


# ---------------------------------------------------------------- data preparation


def _window(rows: pl.DataFrame, cutoff: int, periods: int) -> pl.DataFrame:
    """Labelled rows of periods (cutoff − periods, cutoff]; nothing after the cutoff."""
    return rows.filter((pl.col("period") > cutoff - periods) & (pl.col("period") <= cutoff) & pl.col(OUTCOME).is_not_null())


def _subsample(rows: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """At most max_rows rows, stratified by category: every category keeps min(its rows, cap), the cap
    the largest that fits (small categories keep all their rows)."""
    if rows.height <= max_rows:
        return rows
    sizes = rows.group_by("category").len().sort("category")
    n = np.sort(sizes.get_column("len").to_numpy())
    cap, left = max_rows, max_rows
    for k, size in enumerate(n):
        share = left // (n.size - k)
        if size <= share:
            left -= int(size)
        else:
            cap = share
            break
    rng = np.random.default_rng(seed)
    key = pl.Series("__u", rng.random(rows.height))
    return (
        rows.with_columns(key)
        .with_columns(__rank=pl.col("__u").rank("ordinal").over("category"))
        .filter(pl.col("__rank") <= cap)
        .drop("__u", "__rank")
    )


def control_columns(rows: pl.DataFrame, features: list[Feature]) -> list[str]:
    """Every feature except the offer, the ids and text (strings with many levels)."""
    out = []
    for f in features:
        if f.name == TREATMENT or f.is_id or f.name not in rows.columns:
            continue
        dtype = rows.schema[f.name]
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            if rows.get_column(f.name).n_unique() > MAX_CATEGORICAL_LEVELS:
                continue
        out.append(f.name)
    return out


def _control_matrix(rows: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float32 matrix for LightGBM: numerics as they are (nulls NaN), low-cardinality categoricals as
    integer codes (sorted levels of these rows)."""
    exprs = []
    for c in columns:
        dtype = rows.schema[c]
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(c).cast(pl.String).rank("dense").cast(pl.Float32).alias(c))
        elif dtype == pl.Boolean:
            exprs.append(pl.col(c).cast(pl.Float32))
        else:
            exprs.append(pl.col(c).cast(pl.Float32))
    return rows.select(exprs).to_numpy().astype(np.float32)


def _age_column(frame: pl.DataFrame) -> str | None:
    return next((c for c in AGE_COLUMNS if c in frame.columns), None)


def _past_response(frame: pl.DataFrame) -> pl.Expr:
    """The consumer's past response to offers at the row's period: the mean over the consumer's
    pairs in that period of (offer % on the pair's own purchases − the offer % the item carried over
    the last 8 periods): a consumer who buys when offers are deep scores high. Pairs without
    purchases (ci_hist_offer_pct falls back to the item's history) score about 0. Uses only
    pre-period features."""
    lag = next((c for c in ("lag_offer_pct_mean_8", "lag_offer_pct_mean_4", "lag_offer_pct_mean_2") if c in frame.columns), None)
    if "ci_hist_offer_pct" not in frame.columns:
        return pl.lit(None, pl.Float64)
    own = pl.col("ci_hist_offer_pct").cast(pl.Float64) - (pl.col(lag).cast(pl.Float64).fill_null(0.0) if lag else 0.0)
    return own.mean().over("customer_id", "period")


def _terciles(values: np.ndarray) -> list[float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return []
    return [float(x) for x in np.unique(np.quantile(v, [1 / 3, 2 / 3]))]


def _tercile_label(expr: pl.Expr, cuts: list[float]) -> pl.Expr:
    label = pl.lit("t1")
    for k, c in enumerate(cuts, start=2):
        label = pl.when(expr > c).then(pl.lit(f"t{k}")).otherwise(label)
    return pl.when(expr.is_null() | expr.is_nan()).then(pl.lit(MISSING)).otherwise(label)


def _group_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, item_id, category and the raw values behind the groups."""
    age = _age_column(frame)
    return frame.select(
        "customer_id", "item_id", pl.col("category").cast(pl.String),
        __age=(pl.col(age).cast(pl.String).fill_null(MISSING) if age else pl.lit(MISSING)),
        __price=(pl.col(PRICE_COLUMN).cast(pl.Float64) if PRICE_COLUMN in frame.columns else pl.lit(None, pl.Float64)),
        __resp=_past_response(frame),
    )  # fmt: skip


def _fit_cuts(frame: pl.DataFrame) -> dict:
    g = _group_frame(frame)
    cuts = {}
    for (category,), part in g.group_by("category"):
        cuts[(category, "price")] = _terciles(part.get_column("__price").to_numpy())
        cuts[(category, "past_response")] = _terciles(part.get_column("__resp").to_numpy())
    return cuts


def _group_columns(frame: pl.DataFrame, cuts: dict) -> pl.DataFrame:
    """customer_id, item_id, category, __g_age, __g_price, __g_past_response (group labels)."""
    g = _group_frame(frame)
    if g.height == 0:
        return g.select("customer_id", "item_id", "category").with_columns(
            __g_age=pl.lit(None, pl.String), __g_price=pl.lit(None, pl.String), __g_past_response=pl.lit(None, pl.String))
    g = g.with_row_index("__row")
    parts = []
    for (category,), part in g.group_by("category"):
        parts.append(part.with_columns(
            __g_price=_tercile_label(pl.col("__price"), cuts.get((category, "price"), [])),
            __g_past_response=_tercile_label(pl.col("__resp"), cuts.get((category, "past_response"), [])),
        ))  # fmt: skip
    return pl.concat(parts).sort("__row").select("customer_id", "item_id", "category", pl.col("__age").alias("__g_age"), "__g_price", "__g_past_response")


# ---------------------------------------------------------------- nuisances


def cross_fit(Y: np.ndarray, T: np.ndarray, W: np.ndarray, clusters: np.ndarray, *, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Cross-fitted residuals (Y − m_Y, T − m_T) from EconML's LinearDML with LightGBM nuisances and
    folds grouped by `clusters`; also EconML's own (probability-scale, HC0) effect, a cross-check."""
    from econml.dml import LinearDML
    from lightgbm import LGBMClassifier, LGBMRegressor

    common = {"random_state": seed, "n_jobs": 1, "verbose": -1}
    est = LinearDML(
        model_y=LGBMClassifier(**LGBM_Y, **common), model_t=LGBMRegressor(**LGBM_T, **common), discrete_outcome=True,
        cv=folds, random_state=seed, allow_missing=True,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Y, T, X=None, W=W, groups=clusters, cache_values=True)
    y_res, t_res, *_ = est.residuals_
    return np.asarray(y_res, float).ravel(), np.asarray(t_res, float).ravel(), float(np.ravel(est.intercept_)[0])


# ---------------------------------------------------------------- final stage


def _cluster_ols(Z: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS of y on Z with a covariance clustered by `clusters` (CR1: G/(G−1) · (n−1)/(n−k))."""
    ZtZ = Z.T @ Z
    inv = np.linalg.pinv(ZtZ)
    beta = inv @ (Z.T @ y)
    u = y - Z @ beta
    _, idx = np.unique(clusters, return_inverse=True)
    G = int(idx.max()) + 1
    scores = np.zeros((G, Z.shape[1]))
    np.add.at(scores, idx, Z * u[:, None])
    n, k = Z.shape
    adj = (G / max(G - 1, 1)) * ((n - 1) / max(n - k, 1))
    V = adj * inv @ (scores.T @ scores) @ inv
    return beta, V


def _tau2(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian–Laird method-of-moments between-group variance, floored at 0."""
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    est, se = est[ok], se[ok]
    if est.size < 2:
        return 0.0
    w = 1 / se**2
    mean = np.sum(w * est) / w.sum()
    Q = float(np.sum(w * (est - mean) ** 2))
    denom = w.sum() - np.sum(w**2) / w.sum()
    return max(0.0, (Q - (est.size - 1)) / denom) if denom > 0 else 0.0


def _category_fit(category: str, yr: np.ndarray, x: np.ndarray, groups: pl.DataFrame, clusters: np.ndarray) -> tuple[dict, list[dict]]:
    """Effects-coded joint regression of yr on x = q·(T − m_T) times [1, group deviations]."""
    n = yr.size
    columns, meta = [np.ones(n)], []  # meta: (level, group, column index or None, base info)
    level_info = []
    for level in LEVELS:
        labels = groups.get_column(f"__g_{level}").to_numpy()
        names, counts = np.unique(labels, return_counts=True)
        big = [(nm, c) for nm, c in zip(names, counts) if c >= MIN_GROUP_ROWS]
        if len(big) < 2:
            level_info.append((level, [], None, dict(zip(names, counts))))
            continue
        base = max(big, key=lambda t: t[1])[0]
        n_base = dict(big)[base]
        est = [(nm, c) for nm, c in big if nm != base]
        cols = []
        for nm, c in est:
            col = (labels == nm).astype(float) - (c / n_base) * (labels == base).astype(float)
            cols.append(len(columns))
            columns.append(col)
        level_info.append((level, est, (base, n_base, cols), dict(zip(names, counts))))
    D = np.column_stack(columns)
    beta, V = _cluster_ols(D * x[:, None], yr, clusters)
    slope, se = float(beta[0]), float(np.sqrt(max(V[0, 0], 0.0)))
    out = []
    for level, est, base_info, counts in level_info:
        if base_info is None:
            for nm, c in counts.items():
                out.append({"category": category, "level": level, "group": nm, "dev": 0.0, "dev_se": np.nan, "n_rows": int(c)})
            continue
        base, n_base, cols = base_info
        k = len(columns)
        for (nm, c), j in zip(est, cols):
            L = np.zeros(k)
            L[j] = 1.0
            out.append({"category": category, "level": level, "group": nm, "dev": float(beta[j]), "dev_se": float(np.sqrt(max(L @ V @ L, 0))), "n_rows": int(c)})
        L = np.zeros(k)
        for (nm, c), j in zip(est, cols):
            L[j] = -c / n_base
        out.append({"category": category, "level": level, "group": base, "dev": float(L @ beta), "dev_se": float(np.sqrt(max(L @ V @ L, 0))), "n_rows": int(n_base)})
        for nm, c in counts.items():
            if c < MIN_GROUP_ROWS:
                out.append({"category": category, "level": level, "group": nm, "dev": 0.0, "dev_se": np.nan, "n_rows": int(c)})
    return {"slope": slope, "se": se}, out


def _shrink(groups: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """Empirical Bayes per (category, level): τ² from the raw group slopes and their SEs."""
    rows = []
    cat_slope = dict(zip(categories.get_column("category"), categories.get_column("slope")))
    for (category, level), part in groups.group_by("category", "level", maintain_order=True):
        dev = part.get_column("dev").to_numpy()
        se = part.get_column("dev_se").to_numpy()
        tau2 = _tau2(cat_slope[category] + dev, se)
        ok = np.isfinite(se) & (se > 0)
        B = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), 0.0)
        rows.append(part.with_columns(
            shrink=pl.Series(B), tau2=pl.lit(tau2), dev_shrunk=pl.Series(np.where(ok, B * dev, 0.0)),
            post_sd=pl.Series(np.where(ok, np.sqrt(B) * np.where(ok, se, 0.0), 0.0)),
        ))  # fmt: skip
    out = pl.concat(rows) if rows else groups
    return out


# ---------------------------------------------------------------- entry points


def estimate_response(
    rows: pl.DataFrame, features: list[Feature], *, cutoff: int, periods: int = 8, max_rows: int = 300_000, level: float = 0.90,
    seed: int = 0, folds: int = 3,
) -> ResponseEstimate:
    """The offer response of the panel rows' categories, from labelled periods (cutoff − periods, cutoff]."""
    started = time.perf_counter()
    window = _subsample(_window(rows, cutoff, periods), max_rows, seed)
    if window.height == 0:
        raise ValueError(f"no labelled rows in periods ({cutoff - periods}, {cutoff}]")
    window = window.with_columns(pl.col("category").cast(pl.String)).sort("category", "customer_id", "item_id", "period")
    controls = control_columns(window, features)
    W = _control_matrix(window, controls)
    Y = window.get_column(OUTCOME).cast(pl.Float64).to_numpy()
    T = window.get_column(TREATMENT).cast(pl.Float64).fill_null(0.0).to_numpy()
    items = window.get_column("item_id").to_numpy()
    cuts = _fit_cuts(window)
    groups = _group_columns(window, cuts)
    y_res, t_res, econml_effect = cross_fit(Y, T, W, items, folds=folds, seed=seed)
    m_y = np.clip(Y - y_res, 1e-4, 1 - 1e-4)
    q = m_y * (1 - m_y)
    x = q * t_res
    z = stats.norm.ppf(0.5 + level / 2)

    # pooled (all categories)
    beta, V = _cluster_ols(x[:, None], y_res, items)
    pooled = {"slope": float(beta[0]), "se": float(np.sqrt(V[0, 0]))}

    cat_names = window.get_column("category").to_numpy()
    cat_rows, group_rows = [], []
    offered = T > 0
    for category in np.unique(cat_names):
        m = cat_names == category
        resid_sd = float(np.std(t_res[m]))
        n_offer = int(offered[m].sum())
        n_items_offer = int(np.unique(items[m & offered]).size)
        identified = resid_sd >= MIN_RESID_SD and n_offer >= MIN_OFFER_ROWS and n_items_offer >= MIN_OFFER_ITEMS
        row = {"category": category, "n_rows": int(m.sum()), "offer_resid_sd": resid_sd, "identified": identified,
               "mean_q": float(np.mean(q[m])), "rows_offered": n_offer}  # fmt: skip
        if identified:
            fit, g = _category_fit(category, y_res[m], x[m], groups.filter(pl.Series(m)), items[m])
            row.update(fit, method="dml")
            group_rows.extend(g)
        cat_rows.append(row)

    ident = [r for r in cat_rows if r["identified"]]
    tau2_cat = _tau2(np.array([r["slope"] for r in ident]), np.array([r["se"] for r in ident])) if ident else 0.0
    pooled.update(tau2=tau2_cat, se_wide=float(np.sqrt(pooled["se"] ** 2 + tau2_cat)))
    for r in cat_rows:
        if not r["identified"]:
            r.update(slope=pooled["slope"], se=pooled["se_wide"],
                     method=f"pooled: not identified (residual offer SD {r['offer_resid_sd']:.2f} pt, {r['rows_offered']} offered rows)")  # fmt: skip
        r["low"], r["high"] = r["slope"] - z * r["se"], r["slope"] + z * r["se"]
    categories = pl.DataFrame(cat_rows).select(
        "category", "slope", "se", "low", "high", "n_rows", "offer_resid_sd", "identified", "method", "mean_q", "rows_offered"
    )
    if group_rows:
        g = _shrink(pl.DataFrame(group_rows), categories)
        g = g.join(categories.select("category", category_slope="slope"), on="category").with_columns(
            slope_raw=pl.col("category_slope") + pl.col("dev"), se=pl.col("dev_se"), slope=pl.col("category_slope") + pl.col("dev_shrunk"),
        )  # fmt: skip
        g = g.select("category", "level", "group", "slope_raw", "se", "slope", "n_rows", "category_slope", "shrink", "tau2", "post_sd")
    else:
        g = pl.DataFrame(schema={"category": pl.String, "level": pl.String, "group": pl.String, "slope_raw": pl.Float64, "se": pl.Float64,
                                 "slope": pl.Float64, "n_rows": pl.Int64, "category_slope": pl.Float64, "shrink": pl.Float64,
                                 "tau2": pl.Float64, "post_sd": pl.Float64})  # fmt: skip
    info = {"rows": window.height, "controls": len(controls), "folds": folds, "econml_effect_prob_scale": econml_effect,
            "seconds": time.perf_counter() - started}  # fmt: skip
    return ResponseEstimate(categories=categories, groups=g, pooled=pooled, cuts=cuts, info=info)


def permute_offers(rows: pl.DataFrame, *, cutoff: int, periods: int = 8, seed: int = 0) -> pl.DataFrame:
    """The window's offers permuted across periods within each item (seeded): every row of item i in
    period t gets the offer its pair faced in period π_i(t) (the item's mean offer there when the
    pair has no row)."""
    window = _window(rows, cutoff, periods)
    rng = np.random.default_rng(seed)
    item_periods = window.select("item_id", "period").unique().sort("item_id", "period")
    perm = []
    for (item,), part in item_periods.group_by("item_id", maintain_order=True):
        p = part.get_column("period").to_numpy()
        perm.append(pl.DataFrame({"item_id": np.full(p.size, item, dtype=np.int64), "period": p, "__from": rng.permutation(p)}))
    mapping = pl.concat(perm).with_columns(pl.col("item_id").cast(window.schema["item_id"]), pl.col("period").cast(window.schema["period"]),
                                           pl.col("__from").cast(window.schema["period"]))  # fmt: skip
    pair_offer = window.select("customer_id", "item_id", pl.col("period").alias("__from"), pl.col(TREATMENT).alias("__pair_offer"))
    item_offer = window.group_by("item_id", pl.col("period").alias("__from")).agg(pl.col(TREATMENT).mean().alias("__item_offer"))
    out = (
        window.with_row_index("__row")
        .join(mapping, on=["item_id", "period"], how="left")
        .join(pair_offer, on=["customer_id", "item_id", "__from"], how="left")
        .join(item_offer, on=["item_id", "__from"], how="left")
        .sort("__row")
    )
    return out.with_columns(pl.coalesce("__pair_offer", "__item_offer").cast(window.schema[TREATMENT]).alias(TREATMENT)).drop(
        "__row", "__from", "__pair_offer", "__item_offer"
    )


def placebo(rows: pl.DataFrame, features: list[Feature], *, cutoff: int, seed: int = 0, **kw) -> pl.DataFrame:
    """Offers permuted across periods within item, then re-estimated: the slopes should be 0.
    Returns category, slope, low, high, covers_zero."""
    permuted = permute_offers(rows, cutoff=cutoff, periods=kw.get("periods", 8), seed=seed)
    est = estimate_response(permuted, features, cutoff=cutoff, seed=seed, **kw)
    return est.categories.select("category", "slope", "low", "high").with_columns(covers_zero=(pl.col("low") <= 0) & (pl.col("high") >= 0))
