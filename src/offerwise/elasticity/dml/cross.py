"""Cross effects: how the other offers a consumer faces move a pair's purchase, by the orthogonalised
route of the own effect (elasticity/dml/__init__.py).

Per row (pair x period) of category c, with C the share-weighted offers on the consumer's other
items in the category (`cc_other_pressure`, features/interactions.py) and Cx the same over their
other categories (`cx_other_pressure`):

    Y = m_Y(X) + q · (θ_T (T − m_T(X)) + θ_c (C − m_C(X)) + θ_x (Cx − m_Cx(X))) + noise,  q = m_Y (1 − m_Y)

X: the own effect's controls less the interaction features (functions of the treatments themselves).
The nuisances are cross-fitted with folds grouped by item (LightGBM: EconML's LinearDML for m_Y and
m_T, as for the own effect; the same regressor for m_C and m_Cx). The final stage is least squares of
Y − m_Y on q·(the three residuals), with an item-clustered covariance: per category for θ_c (the
coefficients are logit slopes per offer point, like the own slope), pooled over every category for
θ_x and for the pooled θ. Shrinkage: a category's θ_c moves toward the pooled θ by the
method-of-moments share τ² / (τ² + se²) (as the own slopes' deviations, shrinkage.py). Identified:
at least MIN_ROWS rows with C > 0 and a residual SD of C of at least MIN_RESID_SD points; otherwise
the category takes the pooled θ with SE √(se_pooled² + τ²).

The offered item's pull on the consumer's other items, from the other side: with O the purchases of
the consumer's other pairs in the category in the same period (`others_bought`),

    O = m_O(X) + q · (φ_c (T − m_T(X)) + ψ_c (C − m_C(X))) + noise,

φ_c (`others_slope`, per category, shrunk toward the pooled φ as θ_c is) is how much an offer
point on a pair moves its consumer's other purchases in the category, on the own slope's scale. The
treatment is the own offer, so whatever attenuates the own slope attenuates φ alike, and their ratio,
the share of an offer's uplift taken from the other items (optimize/choice_model.py), does not depend
on how the pressures' shares are measured. φ_x (the CROSS_CATEGORY row's `others_slope`) is the same
with O the consumer's purchases in their other categories (Cx among the controlled treatments), pooled;
per offering category (`others_x_slope`, shrunk toward φ_x as φ_c is) it says which categories' offers
pull most (a store relates each category to a few others). θ_x and φ_x see one interaction from its
two sides, so the CROSS_CATEGORY row's `combined_z` adds their evidence (`_combined_z`): the plan
counts a cross-category pull where it is found (elasticity/stage.py).

Placebo: C and Cx permuted across the rows of each category-period (the cross variation broken, the
consumers' own offers kept), their nuisances refitted and the final stage repeated (the outcome and
offer nuisances do not involve them): its intervals should cover 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.config import ResponseConfig
from offerwise.elasticity.dml.design import design
from offerwise.elasticity.dml.final import _cluster_fit, _clustered_covariance, _linear_final
from offerwise.elasticity.dml.nuisances import (
    _final_weights,
    _nuisance_params,
    cross_fit,
    observational_offer_columns,
    with_known_offer_means,
)
from offerwise.elasticity.dml.shrinkage import _tau2
from offerwise.features.interactions import CROSS_PRESSURE, INTERACTION_FEATURES, PRESSURE
from offerwise.features.manifest import Feature

MIN_ROWS = 200  # rows whose consumer faces another offer in the category
MIN_RESID_SD = 0.5  # offer points of residual pressure: less cannot identify a cross slope
POOLED = "pooled"  # the table's row of the within-category slope over every category
CROSS_CATEGORY = "cross-category"  # the table's row of θ_x
COLUMNS = [
    "category",
    "cross_slope",
    "se",
    "low",
    "high",
    "raw_slope",
    "raw_se",
    "rows",
    "rows_with_other_offers",
    "identified",
    "method",
    "others_slope",
    "others_se",
    "others_x_slope",
    "others_x_se",
    "combined_z",
]
OTHERS = "others_bought"  # the design's column: purchases of the consumer's other pairs in the category in the row's period
OTHERS_X = "others_bought_elsewhere"  # ... and of their pairs in the other categories
PULLS = ("others_slope", "others_se", "others_x_slope", "others_x_se")  # φ and φ_x per category, and their SEs


def has_interactions(rows: pl.DataFrame) -> bool:
    return PRESSURE in rows.columns and CROSS_PRESSURE in rows.columns


def _residuals(targets: list[np.ndarray], W: np.ndarray, clusters: np.ndarray, *, folds: int, seed: int) -> list[np.ndarray]:
    """Each target − its cross-fitted LightGBM prediction from W (folds grouped by item, the offer
    nuisance's settings). Written out rather than sklearn's cross_val_predict: every target here has the
    same W and folds, so each fold's LightGBM Dataset (W binned: about as long as a fit) is built once and
    relabelled per target; the predictions are bit-identical to cross_val_predict's with LGBMRegressor
    (tests/elasticity/dml/test_cross.py)."""
    import lightgbm as lgb
    from lightgbm import LGBMRegressor
    from sklearn.model_selection import GroupKFold

    _, params = _nuisance_params(targets[0].size, folds, seed)
    train_params = LGBMRegressor(**params)._process_params(stage="fit")  # what LGBMRegressor.fit hands lgb.train
    out = [np.array(t, dtype=float) for t in targets]
    for train, test in GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(W, groups=clusters):
        data = lgb.Dataset(W[train], label=targets[0][train], params=train_params, free_raw_data=False).construct()
        for target, residual in zip(targets, out, strict=True):
            data.set_label(target[train])
            booster = lgb.train(train_params, data, num_boost_round=params["n_estimators"])
            # num_threads given: LightGBM keeps it process-wide, and a predict without it resets it to every
            # core while the estimate and its placebo train beside this on other threads (a segfault seen once)
            residual[test] = target[test] - booster.predict(W[test], num_threads=params["n_jobs"])
    return out


def _fit(y_res: np.ndarray, Z: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of y_res on the columns of Z, item-clustered: (β, SEs)."""
    beta, V = _cluster_fit(Z, _linear_final(y_res, np.ones(y_res.size)), clusters)
    return beta, np.sqrt(np.maximum(np.diag(V), 0.0))


def cross_response(
    rows: pl.DataFrame, features: list[Feature], cfg: ResponseConfig, *, cutoff: int, seed: int = 0, placebo: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The cross slopes per category (COLUMNS), a POOLED row and a CROSS_CATEGORY row; rows are panel
    rows with the interaction features (only those up to the cutoff are read). With `placebo`, also
    the same table with the pressures permuted within category-period (permute_pressure): the outcome
    and offer nuisances do not involve the pressures, so the placebo refits only the pressures'."""
    controls = [f for f in features if f.name not in INTERACTION_FEATURES]
    in_category = pl.col("target").sum().over("customer_id", "category", "period")
    rows = rows.with_columns(
        (in_category - pl.col("target")).cast(pl.Float64).alias(OTHERS),
        (pl.col("target").sum().over("customer_id", "period") - in_category).cast(pl.Float64).alias(OTHERS_X),
    )
    d = design(rows, controls, cutoff=cutoff, periods=cfg.periods, max_rows=cfg.max_rows, seed=seed)
    y_res, t_res, _ = cross_fit(d.Y, d.T, d.W, d.items, folds=cfg.folds, seed=seed, offer_columns=observational_offer_columns(d))
    t_res = with_known_offer_means(d, t_res)
    q = _final_weights(d.Y, y_res)
    column = lambda window, name: window.get_column(name).cast(pl.Float64).fill_null(0.0).to_numpy()  # noqa: E731
    permuted = permute_pressure(d.window, seed=seed) if placebo else None
    targets = [column(d.window, c) for c in (PRESSURE, CROSS_PRESSURE, OTHERS_X, OTHERS)]
    targets += [] if permuted is None else [column(permuted, c) for c in (PRESSURE, CROSS_PRESSURE)]
    c_res, cx_res, ox_res, o_res, *permuted_res = _residuals(targets, d.W, d.items, folds=cfg.folds, seed=seed)
    pressures = [c_res, cx_res]
    others = _others_slopes(d, o_res, ox_res, t_res, *pressures, q)

    def table(window: pl.DataFrame, residuals: list[np.ndarray]) -> pl.DataFrame:
        return _table(d, y_res, t_res, *residuals, q, column(window, PRESSURE), column(window, CROSS_PRESSURE), cfg.level).join(
            others, on="category", how="left"
        )

    combined = _combined_z(y_res, ox_res, q[:, None] * np.column_stack([t_res, *pressures]), d.items)
    actual = table(d.window, pressures).with_columns(combined_z=pl.when(pl.col("category") == CROSS_CATEGORY).then(combined))
    if permuted is None:
        return actual, None
    # the placebo permutes only the pressures: its others_* are the actual estimate's, and it has no combined evidence
    placebo_table = table(permuted, permuted_res)
    return actual, placebo_table.with_columns(combined_z=pl.lit(None, pl.Float64))


def _table(d, y_res, t_res, c_res, cx_res, q, C, Cx, level: float) -> pl.DataFrame:
    """The final stage (module docstring) on cross-fitted residuals."""
    z = norm.ppf(0.5 + level / 2)
    beta, se = _fit(y_res, q[:, None] * np.column_stack([t_res, c_res, cx_res]), d.items)
    rows_out, raw = [], {}
    for c, m in d.masks.items():
        identified = bool((C[m] > 0).sum() >= MIN_ROWS and c_res[m].std() >= MIN_RESID_SD)
        if identified:
            b, s = _fit(y_res[m], q[m, None] * np.column_stack([t_res[m], c_res[m]]), d.items[m])
            raw[c] = (float(b[1]), float(s[1]))
        rows_out.append({"category": c, "rows": int(m.sum()), "rows_with_other_offers": int((C[m] > 0).sum()), "identified": identified})
    estimates = np.array([v[0] for v in raw.values()])
    ses = np.array([v[1] for v in raw.values()])
    tau2 = _tau2(estimates, ses)
    pooled, pooled_se = float(beta[1]), float(se[1])
    for row in rows_out:
        est, s = raw.get(row["category"], (float("nan"), float("nan")))
        if row["identified"]:
            slope, slope_se = _shrunk(est, s, pooled, pooled_se, tau2)
            method = "dml, shrunk toward the pooled slope"
        else:
            slope, slope_se, method = pooled, float(np.sqrt(pooled_se**2 + tau2)), "pooled (not identified)"
        row |= {"cross_slope": slope, "se": slope_se, "raw_slope": est, "raw_se": s, "method": method}
    for name, b, s_, treated in ((POOLED, beta[1], se[1], C), (CROSS_CATEGORY, beta[2], se[2], Cx)):
        rows_out.append(
            {
                "category": name,
                "cross_slope": float(b),
                "se": float(s_),
                "raw_slope": float(b),
                "raw_se": float(s_),
                "rows": int(C.size),
                "rows_with_other_offers": int((treated > 0).sum()),
                "identified": True,
                "method": "dml, pooled",
            }
        )
    table = pl.DataFrame(rows_out).with_columns(low=pl.col("cross_slope") - z * pl.col("se"), high=pl.col("cross_slope") + z * pl.col("se"))
    return table.select([c for c in COLUMNS if c in table.columns])  # the final stage's own; the pulls and their evidence join later


def _combined_z(y_res: np.ndarray, ox_res: np.ndarray, Z: np.ndarray, clusters: np.ndarray) -> float:
    """The evidence of a cross-category pull from both sides at once: θ_x (the other categories' offers
    on a pair's purchase: y_res on Z's third column) and φ_x (a pair's offer on the consumer's other
    categories' purchases: ox_res on its first) measure one interaction, so their z-scores add,
    z = (z_θ + z_φ) / √(2 + 2ρ), ρ the correlation of the two estimates (one item-clustered sandwich
    over both equations). Opposite signs cancel: a store's substitution, or complementarity, moves both alike."""
    inv = np.linalg.pinv(Z.T @ Z)
    theta, phi = inv @ (Z.T @ y_res), inv @ (Z.T @ ox_res)
    u_y, u_x = y_res - Z @ theta, ox_res - Z @ phi
    k = Z.shape[1]
    both = np.zeros((2 * k, 2 * k))
    both[:k, :k] = both[k:, k:] = inv
    V = _clustered_covariance(np.hstack([Z * u_y[:, None], Z * u_x[:, None]]), both, clusters)
    var_t, var_p, cov = V[2, 2], V[k, k], V[2, k]
    if var_t <= 0 or var_p <= 0:
        return float("nan")
    rho = cov / np.sqrt(var_t * var_p)
    return float((theta[2] / np.sqrt(var_t) + phi[0] / np.sqrt(var_p)) / np.sqrt(max(2 + 2 * rho, 1e-12)))


def _shrunk(est: float, se: float, pooled: float, pooled_se: float, tau2: float) -> tuple[float, float]:
    """(slope, SE) of an estimate moved toward the pooled one by τ² / (τ² + se²)."""
    share = tau2 / (tau2 + se**2) if tau2 + se**2 > 0 else 0.0
    return pooled + share * (est - pooled), float(np.sqrt(share * se**2 + (1 - share) ** 2 * pooled_se**2))


def _others_slopes(
    d, o_res: np.ndarray, ox_res: np.ndarray, t_res: np.ndarray, c_res: np.ndarray, cx_res: np.ndarray, q: np.ndarray
) -> pl.DataFrame:
    """category, others_slope, others_se (module docstring): per category shrunk toward the pooled φ as
    θ_c is (the pooled φ where its fit has no standard error), the pooled φ in the POOLED row, and φ_x
    (the pull on the consumer's purchases in their other categories, pooled) in the CROSS_CATEGORY row."""
    Z = q[:, None] * np.column_stack([t_res, c_res])
    Zx = q[:, None] * np.column_stack([t_res, c_res, cx_res])
    pooled = tuple(float(v[0]) for v in _fit(o_res, Z, d.items))
    pooled_x = tuple(float(v[0]) for v in _fit(ox_res, Zx, d.items))
    within = _shrunk_by_category(d, lambda m: _fit(o_res[m], Z[m], d.items[m]), pooled)
    # φ_x per offering category: a store relates each category to a few others, so how much an offer pulls
    # from the consumer's other categories depends on the category offered (docs/simulator.md)
    across = _shrunk_by_category(d, lambda m: _fit(ox_res[m], Zx[m], d.items[m]), pooled_x)
    out = {POOLED: (*pooled, *pooled_x), CROSS_CATEGORY: (*pooled_x, *pooled_x)}
    out |= {c: (*within[c], *across[c]) for c in d.masks}
    return pl.DataFrame(
        {"category": list(out)} | {name: [v[i] for v in out.values()] for i, name in enumerate(PULLS)},
        schema={"category": pl.String} | dict.fromkeys(PULLS, pl.Float64),
    )


def _shrunk_by_category(d, fit, pooled: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """Per category of the design, `fit(mask)`'s first coefficient and SE shrunk toward `pooled` by
    τ² / (τ² + se²) as θ_c is; a category the fit cannot read takes the pooled one."""
    raw = {c: tuple(float(v[0]) for v in fit(m)) for c, m in d.masks.items()}
    raw = {c: v if np.isfinite(v[1]) and v[1] > 0 else (np.nan, np.nan) for c, v in raw.items()}
    tau2 = _tau2(np.array([v[0] for v in raw.values()]), np.array([v[1] for v in raw.values()]))
    return {c: _shrunk(b, s, *pooled, tau2) if np.isfinite(s) else pooled for c, (b, s) in raw.items()}


def with_own_identification(cross: pl.DataFrame, own: pl.DataFrame) -> pl.DataFrame:
    """cross with each category's pulls (PULLS) the pooled ones (φ: the POOLED row's, φ_x: the
    CROSS_CATEGORY row's) where the own estimate does not identify the category (`own`: response.csv's
    category and identified), and `others_identified` saying whose they are. φ and φ_x regress on the
    same own-offer residual as the own slope, so an offer too flat to identify that slope identifies
    them no better (the Complete Journey's FUEL: φ_x +3.1, z 80, from offers 0.45 pt apart within items).
    A table without the pulls (an earlier version's) is returned as it is."""
    if not set(PULLS) <= set(cross.columns):
        return cross
    flat = own.filter(~pl.col("identified").cast(pl.Boolean)).get_column("category").cast(pl.String).to_list()
    of = lambda name: cross.filter(pl.col("category") == name).row(0, named=True)  # noqa: E731
    pooled, pooled_x = of(POOLED), of(CROSS_CATEGORY)
    fallback = {"others_slope": pooled["others_slope"], "others_se": pooled["others_se"]}
    fallback |= {"others_x_slope": pooled_x["others_slope"], "others_x_se": pooled_x["others_se"]}
    own_pulls = ~pl.col("category").is_in(flat)
    return cross.with_columns(
        *(pl.when(own_pulls).then(pl.col(name)).otherwise(pl.lit(value, pl.Float64)).alias(name) for name, value in fallback.items()),
        others_identified=own_pulls,
    )


def permute_pressure(rows: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    """The placebo's rows: the cross pressures permuted (together) across the rows of each category-period."""
    order = pl.int_range(pl.len()).shuffle(seed=seed)
    return rows.with_columns(pl.col(c).gather(order).over("category", "period") for c in (PRESSURE, CROSS_PRESSURE))
