"""Group deviations and their empirical-Bayes shrinkage (docs/response.md): effects coding, the
deviations it implies, τ² by the method of moments, the two-level shrinkage, and the combining of
the cross-fitting repetitions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

MIN_GROUP_ROWS = 100  # a group with fewer rows gets no deviation of its own (its shared effect only)

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


def _shrink(dev: pl.DataFrame, shared: pl.DataFrame, slope_of: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two-level empirical Bayes per level (the package docstring), τ² by the method of moments:
    1. r*_g = B r_g, B = τ²_r / (τ²_r + se_g²), τ²_r from the shared effects and their SEs;
    2. δ*_cg = μ + B_cg (δ_cg − μ), μ = slope_c · r*_g, B_cg = τ² slope_c² / (τ² slope_c² + se_cg²),
       τ² from (δ_cg − μ) / slope_c of every category's groups of the level."""
    shared_out = [_shrink_shared(part) for (level,), part in shared.group_by("level", maintain_order=True)]
    shared = pl.concat(shared_out) if shared_out else pl.DataFrame(schema=SHARED_SCHEMA)
    dev = dev.join(shared.select("level", "group", "rel", "rel_sd"), on=["level", "group"], how="left").with_columns(
        pl.col("rel").fill_null(0.0),
        pl.col("rel_sd").fill_null(0.0),
        category_slope=pl.col("category").replace_strict(slope_of, return_dtype=pl.Float64),
    )
    out = [_shrink_deviations(part) for (level,), part in dev.group_by("level", maintain_order=True)]
    return pl.concat(out), shared


def _shrink_shared(part: pl.DataFrame) -> pl.DataFrame:
    """Step 1 for one level's shared relative effects (dev, dev_se): rel_raw, rel_se, rel, rel_sd."""
    r, se = part.get_column("dev").to_numpy(), part.get_column("dev_se").to_numpy()
    ok = np.isfinite(se) & (se > 0)
    tau2 = _tau2_centred(r, se, ok.sum())
    B = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), 0.0)
    return part.select(
        "level",
        "group",
        rel_raw="dev",
        rel_se="dev_se",
        rel=pl.Series(B * r),
        rel_sd=pl.Series(np.sqrt(B) * np.where(ok, se, 0.0)),
        n_rows="n_rows",
    )


def _shrink_deviations(part: pl.DataFrame) -> pl.DataFrame:
    """Step 2 for one level's deviations of every category (dev, dev_se, rel, rel_sd, category_slope):
    adds dev_shrunk, shrink (B_cg) and post_sd."""
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
    return part.with_columns(dev_shrunk=pl.Series(shrunk), shrink=pl.Series(B), post_sd=pl.Series(post_sd))


def _median_combine(estimates: np.ndarray, ses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeated cross-fitting (Chernozhukov et al. 2018, §3.4): the median estimate, and a variance
    that adds each repetition's distance from it: median(se_r² + (θ_r − θ)²). Axis 0 = repetitions."""
    theta = np.median(estimates, axis=0)
    return theta, np.sqrt(np.median(ses**2 + (estimates - theta) ** 2, axis=0))


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
