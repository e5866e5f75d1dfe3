"""The offer-response estimate (docs/response.md): `OfferResponse`, a thin estimator that runs the
steps in order (rows, nuisances, identification, final stages, combining, shrinkage), and its
result `ResponseEstimate`, which gives each decided pair its slope."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats

from offerwise.columns import OFFER
from offerwise.config import ResponseConfig
from offerwise.elasticity.dml.design import Design, design
from offerwise.elasticity.dml.final import (
    MIN_OFFER_RELIABILITY,
    Fitted,
    Partition,
    _deattenuate,
    final_stage,
    offer_noise_variance,
    offer_reliability,
)
from offerwise.elasticity.dml.groups import LEVELS, _fit_cuts, _group_columns
from offerwise.elasticity.dml.nuisances import REPEATS, CrossFit, cross_fits
from offerwise.elasticity.dml.shrinkage import GROUP_SCHEMA, SHARED_SCHEMA, _combine_rows, _median_combine, _shrink, _tau2
from offerwise.features.manifest import Feature

MIN_RESID_SD = 1.0  # offer points: less residual offer variation cannot identify a slope
MIN_OFFER_ROWS = 200  # rows with a non-zero offer
MIN_OFFER_ITEMS = 5  # distinct items with a non-zero offer (the clusters that carry the variation)
CATEGORY_COLUMNS = (
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


@dataclass
class ResponseEstimate:
    categories: pl.DataFrame  # CATEGORY_COLUMNS
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
            out = self._with_deviation(out, level)
            dev_total = dev_total + pl.col(f"__d_{level}")
            var_total = var_total + pl.col(f"__s_{level}") ** 2
        return out.sort("__row").select(
            "customer_id",
            "item_id",
            slope_mean=pl.max_horizontal(pl.col("__slope") + dev_total, pl.lit(0.0)).cast(pl.Float64),
            slope_sd=var_total.sqrt().cast(pl.Float64),
            category_se=pl.col("__se").cast(pl.Float64),
        )

    def _with_deviation(self, out: pl.DataFrame, level: str) -> pl.DataFrame:
        """out (with __slope and the group label __g_<level>) plus __d_<level> and __s_<level>: the
        pair's group's shrunk deviation and its posterior SD, or the shared relative effect x __slope."""
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
        return out.with_columns(
            pl.coalesce("__d", pl.col("__slope") * pl.col("__r"), pl.lit(0.0)).alias(f"__d_{level}"),
            pl.coalesce("__s", pl.col("__slope").abs() * pl.col("__rs"), pl.lit(0.0)).alias(f"__s_{level}"),
        ).drop("__d", "__s", "__r", "__rs")


def _one_blas_thread(fn: Callable) -> Callable:
    """Run with one BLAS thread: the final stage's products (300k x 40) ran 1 s with two OpenBLAS threads
    on an idle 2-core machine and 15 s beside another busy process, against 0.3 s with one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


class OfferResponse:
    """The offer response (logit slope per offer point) of the rows' categories, with groups,
    intervals and shrinkage (docs/response.md), from the labelled periods (cutoff − cfg.periods,
    cutoff]; no row after the cutoff is read. The cross-fitting (cfg.folds folds grouped by item) is
    repeated REPEATS times with different splits and the final-stage estimates combined by
    `_median_combine`, so the intervals include the variation that the nuisance fits bring
    (refitting them moved a slope by 0.2–1.1 SE on one fixed data set).

    cfg.offer_noise = "correct": where the rows carry the inferred offer's sampling variance
    (OFFER_NOISE), each category's slope, SE and group deviations are divided by the offer's
    reliability (`offer_reliability`; regression calibration for classical measurement error), and a
    category whose reliability is below MIN_OFFER_RELIABILITY is not identified. "ignore": neither.

    After `fit`, `estimate_` holds the ResponseEstimate."""

    def __init__(self, cfg: ResponseConfig, *, seed: int = 0) -> None:
        self.cfg = cfg
        self.seed = seed

    @_one_blas_thread
    def fit(self, rows: pl.DataFrame, features: list[Feature], *, cutoff: int) -> OfferResponse:
        """rows: panel rows (any categories, any periods: only those up to the cutoff are read);
        features: the panel's manifest."""
        started, cfg = time.perf_counter(), self.cfg
        d = design(rows, features, cutoff=cutoff, periods=cfg.periods, max_rows=cfg.max_rows, seed=self.seed)
        cuts = _fit_cuts(d.window)
        fits = cross_fits(d, folds=cfg.folds, seed=self.seed)
        noise = offer_noise_variance(d.window) if cfg.offer_noise == "correct" else None
        reliabilities = _reliabilities(d, fits, noise)
        identification = _identification(d, fits, reliabilities)
        part = Partition.of(d, _group_columns(d.window, cuts), [r["category"] for r in identification if r["identified"]])
        fitted, failed = zip(*(_repetition(d, part, fit, noise, reliability, cfg) for fit, reliability in zip(fits, reliabilities)))
        fallback = set().union(*failed)
        pooled, slope_of, se_of = _combine_categories(fitted, part.ident)
        methods = {c: _dml_method(cfg, fell_back=c in fallback, corrected=noise is not None) for c in part.ident}
        groups, shared = _group_tables(fitted, slope_of)
        self.estimate_ = ResponseEstimate(
            categories=_category_table(identification, (pooled, slope_of, se_of), methods, level=cfg.level),
            groups=groups,
            shared=shared.cast(SHARED_SCHEMA),
            pooled=pooled,
            cuts=cuts,
            info=_info(d, fits, cfg, started),
        )
        return self

    def pair_slopes(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The fitted estimate's slopes of the pairs in `rows` (`ResponseEstimate.pair_slopes`)."""
        return self.estimate_.pair_slopes(rows)


def _reliabilities(d: Design, fits: list[CrossFit], noise: np.ndarray | None) -> list[dict[str, float] | None]:
    """Each repetition's offer reliability per category (None where no noise is measured): their
    mean identifies a category, each corrects its own repetition."""
    if noise is None:
        return [None] * len(fits)
    return [{c: offer_reliability(fit.t_res[m], noise[m], fit.q[m]) for c, m in d.masks.items()} for fit in fits]


def _identification(d: Design, fits: list[CrossFit], reliabilities: list[dict | None]) -> list[dict]:
    """One row per category: category, n_rows, offer_resid_sd, offer_within_sd, rows_offered,
    offer_reliability, mean_q (the mean final-stage weight q) and whether the category is identified (docs/response.md): both offer SDs at
    least MIN_RESID_SD points, at least MIN_OFFER_ROWS rows and MIN_OFFER_ITEMS items with an offer,
    and an offer reliability not below MIN_OFFER_RELIABILITY (NaN, no noise measured, passes)."""
    T, items = d.T, d.items
    within = T - d.window.select(pl.col(OFFER).cast(pl.Float64).mean().over("item_id")).to_series().to_numpy()
    rows = []
    for c, m in d.masks.items():
        offered = m & (T > 0)
        resid_sd = float(np.mean([np.std(fit.t_res[m]) for fit in fits]))
        within_sd = float(np.sqrt(np.mean(within[m] ** 2)))
        reliability = np.nan if reliabilities[0] is None else float(np.mean([rel[c] for rel in reliabilities]))
        mean_q = float(np.mean([float(np.mean(fit.q[m])) for fit in fits]))
        rows.append(
            {
                "category": c,
                "n_rows": int(m.sum()),
                "offer_resid_sd": resid_sd,
                "offer_within_sd": within_sd,
                "rows_offered": int(offered.sum()),
                "offer_reliability": reliability,
                "mean_q": mean_q,
                "identified": bool(
                    min(resid_sd, within_sd) >= MIN_RESID_SD
                    and offered.sum() >= MIN_OFFER_ROWS
                    and np.unique(items[offered]).size >= MIN_OFFER_ITEMS
                    and not reliability < MIN_OFFER_RELIABILITY  # NaN (no noise measured) passes
                ),
            }
        )
    return rows


def _repetition(
    d: Design, part: Partition, fit: CrossFit, noise: np.ndarray | None, reliability: dict | None, cfg: ResponseConfig
) -> tuple[Fitted, set[str]]:
    """One repetition's final stage (`final_stage`), divided by the offer's reliability where measured."""
    fitted, failed = final_stage(d, part, fit, stage=cfg.final_stage, logistic_fit=cfg.logistic_fit)
    if reliability is None:
        return fitted, failed
    pool = part.pool
    return _deattenuate(fitted, reliability, offer_reliability(fit.t_res[pool], noise[pool], fit.q[pool])), failed


def _combine_categories(fitted: tuple[Fitted, ...], ident: list[str]) -> tuple[dict, dict, dict]:
    """The repetitions' pooled and category slopes, combined by `_median_combine`: pooled (slope, se,
    tau2 between the identified categories, se_wide = √(se² + tau2)), and each identified category's
    slope and SE."""
    p_est, p_se = _median_combine(np.array([[f[0][0]] for f in fitted]), np.array([[f[0][1]] for f in fitted]))
    pooled = {"slope": float(p_est[0]), "se": float(p_se[0])}
    est_c, se_c = _median_combine(
        np.array([[f[1][c][0] for c in ident] for f in fitted]), np.array([[f[1][c][1] for c in ident] for f in fitted])
    )
    pooled["tau2"] = _tau2(est_c, se_c) if ident else 0.0
    pooled["se_wide"] = float(np.sqrt(pooled["se"] ** 2 + pooled["tau2"]))
    return pooled, dict(zip(ident, est_c.tolist())), dict(zip(ident, se_c.tolist()))


def _dml_method(cfg: ResponseConfig, *, fell_back: bool, corrected: bool) -> str:
    """The method column of an identified category."""
    stage = cfg.final_stage if not fell_back else "linear (the logistic stage was ill-posed)"
    reused = ", its nuisances the linear stage's" if stage == "logistic" and cfg.logistic_fit == "reuse" else ""
    correction = ", divided by the offer's reliability" if corrected else ""
    return f"dml ({stage} final stage{reused}, {REPEATS}x{cfg.folds}-fold cross-fitting, item-clustered SE{correction})"


def _pooled_method(r: dict) -> str:
    """The method column of a category that is not identified (r: its `_identification` row)."""
    return (
        f"pooled (all categories): not identified (offer SD within items {r['offer_within_sd']:.2f} pt, residual "
        f"{r['offer_resid_sd']:.2f} pt, {r['rows_offered']} rows with an offer"
        + (f", offer reliability {r['offer_reliability']:.2f})" if np.isfinite(r["offer_reliability"]) else ")")
    )


def _category_table(identification: list[dict], combined: tuple, methods: dict, *, level: float) -> pl.DataFrame:
    """CATEGORY_COLUMNS: an identified category's own slope and SE (`methods` names how they were
    fitted), the pooled slope with the wide SE for the others, and the central interval of `level`."""
    pooled, slope_of, se_of = combined
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    for r in identification:
        c = r["category"]
        if r["identified"]:
            fit = {"slope": slope_of[c], "se": se_of[c], "method": methods[c]}
        else:
            fit = {"slope": pooled["slope"], "se": pooled["se_wide"], "method": _pooled_method(r)}
        rows.append({**r, **fit, "low": fit["slope"] - z * fit["se"], "high": fit["slope"] + z * fit["se"]})
    return pl.DataFrame(rows).select(*CATEGORY_COLUMNS)


def _group_tables(fitted: tuple[Fitted, ...], slope_of: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The groups (GROUP_SCHEMA) and the shared relative effects (SHARED_SCHEMA): the repetitions'
    deviations combined, then shrunk (`_shrink`). Empty when no category is identified."""
    if not slope_of:
        return pl.DataFrame(schema=GROUP_SCHEMA), pl.DataFrame(schema=SHARED_SCHEMA)
    dev = _combine_rows([f[2] for f in fitted], ["category", "level", "group"])
    shared_raw = _combine_rows([f[3] for f in fitted if f[3] is not None], ["level", "group"])
    dev, shared = _shrink(dev, shared_raw, slope_of)
    groups = dev.select(
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
    return groups, shared


def _info(d: Design, fits: list[CrossFit], cfg: ResponseConfig, started: float) -> dict:
    """rows, controls, the cross-fitting, the final stage, EconML's cross-check and the seconds taken."""
    return {
        "rows": d.window.height,
        "controls": len(d.controls),
        "folds": cfg.folds,
        "repeats": REPEATS,
        "final_stage": cfg.final_stage,
        "logistic_fit": cfg.logistic_fit if cfg.final_stage == "logistic" else None,
        "econml_effect_prob_scale": float(np.median([fit.effect for fit in fits])),
        "seconds": time.perf_counter() - started,
    }
