"""From per-pair inputs to the (pairs x offer levels) matrices of the offer problem (paper §3.4).

Offer levels (optimize/levels.py): under the retailer's rules, the category's candidate grid (the
allowed levels and every level "without rules") plus one last column holding the pair's status quo
offer k, which is always allowed; levels the rules do not allow are forbidden.
Under levels = "paper": k·(1 + η) with η = 0.05·j, j = −19 … 19 (the paper's grid). Pairs with k = 0
would stay at 0 whatever η, so they move on an absolute grid instead: 0, 5, 10, … % (39 levels); so do
pairs whose whole relative grid [0.05 k, 1.95 k] misses the offer range (a tiny or a huge k).
Levels outside the category's offer range (o1, o2) are forbidden.

Purchase probability at a new offer o, by `response`:
* linear (the paper's): f + η·ε·f = f + a·f·(1 − f)·(o − k), clipped to [0, 1];
* sigmoid: the category sigmoid's slope a moved onto the pair's own probability:
  logit p = logit f + a·(o − k);
* counterfactual: the pair's own slope from re-scoring the model across offers:
  logit p = logit f + slope_i·(o − k);
* dml: the pair's slope from the orthogonalised estimate (elasticity/dml/) at the
  `response_quantile` q of its posterior (the mean at 0.5), never below 0: logit p = logit f + slope_i·(o − k).
  With `response_caution` "change" the quantile depends on the move: q where the offer rises above the
  status quo, 1 − q where it falls (`ChangeSlopes`): a lower bound on what any change from the status
  quo gains, whose value is observed, where "slope" (q everywhere) overrates what removing an offer saves.

Retention with a stated probability (dml, `retention_probability` P): the category slope's posterior
is normal with its SE s_c, so it lies in its central interval ±z s_c, z = Φ⁻¹((1 + P)/2), with
probability P. For a fixed offer a pair's probability is monotone in the slope (rising for o > k,
falling for o < k), so over that interval it is never below the smaller of its values at the two
ends. `retention_low` counts that smaller value: a plan with Σ retention_low ≥ R keeps retention
≥ R for every slope in the interval, so with probability ≥ P under the posterior. It stays one
number per pair and level, so the Lagrangian stays separable. What P covers: the category slope's
uncertainty (all its pairs' slopes shifted together, the pairs' own deviations at their posterior
means); not the purchase model's error in f.
Objective, by `objective`:
* indicator (the paper's): value = I_p·(1 − o/100)·1[p ≥ Pr_c], retention counts 1[p ≥ Pr_c];
* expected: value = p·(I_p·(1 − o/100) − unit cost), retention counts p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.config import OptimizeConfig
from offerwise.errors import InputError
from offerwise.optimize.levels import CategoryLevels
from offerwise.probability import clipped_logit, expit

STEPS = np.arange(-19, 20)
ETA = 0.05 * STEPS
ABSOLUTE = 5.0 * np.arange(STEPS.size)


@dataclass
class Matrices:
    offers: np.ndarray  # (n, L) offer % of each level
    eta: np.ndarray  # (n, L) η of each level (NaN on the absolute grid)
    prob: np.ndarray  # (n, L) purchase probability at each level
    value: np.ndarray  # (n, L) objective contribution
    retention: np.ndarray  # (n, L) retention contribution
    spend: np.ndarray  # (n, L) expected promotion spend p · I_p · o / 100
    allowed: np.ndarray  # (n, L) allowed by the rules (inside the offer range)
    status_quo: np.ndarray  # (n,) level index of the reference offer
    retention_low: np.ndarray | None = None  # (n, L) retention at the slope interval's worse end (retention_probability)

    @property
    def constrained(self) -> np.ndarray:
        """(n, L) the retention the constraint counts: retention_low when set, else the point view's."""
        return self.retention if self.retention_low is None else self.retention_low


@dataclass(frozen=True)
class ChangeSlopes:
    """Per-pair slopes by the direction of an offer's move from the status quo (response_caution
    "change"): `rise` where the offer rises above it, `fall` where it falls below; `central`, the
    posterior mean, where a slope is calibrated rather than moved along (the nested logit's λ, the
    retention guard's interval). Indexed like an array."""

    rise: np.ndarray
    fall: np.ndarray
    central: np.ndarray

    def __getitem__(self, index) -> ChangeSlopes:
        return ChangeSlopes(self.rise[index], self.fall[index], self.central[index])


Slopes = np.ndarray | ChangeSlopes


def moved(slope: Slopes, change: np.ndarray) -> np.ndarray:
    """slope · change, where a ChangeSlopes takes its rise or its fall by the change's sign."""
    if isinstance(slope, ChangeSlopes):
        return np.where(change > 0, slope.rise * change, slope.fall * change)
    return slope * change


def central(slope: Slopes) -> np.ndarray:
    """The slope a calibration reads: a ChangeSlopes' posterior mean, else the slope itself."""
    return slope.central if isinstance(slope, ChangeSlopes) else slope


def _in_range(offers: np.ndarray, offer_range: tuple[float, float]) -> np.ndarray:
    return (offers >= offer_range[0] - 1e-9) & (offers <= offer_range[1] + 1e-9)


def offer_levels(k: np.ndarray, offer_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offers, eta, relative): relative says which pairs use the paper's relative grid."""
    relative_offers = k[:, None] * (1 + ETA[None, :])
    relative = (k > 0) & _in_range(relative_offers, offer_range).any(axis=1)
    offers = np.where(relative[:, None], relative_offers, ABSOLUTE[None, :])
    eta = np.where(relative[:, None], ETA[None, :], np.nan)
    return offers, eta, relative


def response(
    kind: str,
    f: np.ndarray,
    k: np.ndarray,
    slope: Slopes,
    offers: np.ndarray,
    shift: np.ndarray | float = 0.0,
    *,
    logit_f: np.ndarray | None = None,
) -> np.ndarray:
    """(n, L) purchase probabilities at `offers`; `shift` moves the logit further (the other offers' effect, optimize/bundles.py);
    `logit_f`: clipped_logit(f) where the caller has it already."""
    delta = offers - k[:, None]
    if kind == "linear":
        own = slope[:, None] * f[:, None] * (1 - f[:, None]) * delta  # linear: slopes() gives no ChangeSlopes
        return np.clip(f[:, None] + own + f[:, None] * (1 - f[:, None]) * shift, 0.0, 1.0)
    return expit((clipped_logit(f) if logit_f is None else logit_f)[:, None] + moved(slope[:, None], delta) + shift)


def counted(objective: str, prob: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """What retention counts of a probability: 1[p ≥ the consumer's cut-off] (indicator) or p (expected)."""
    return (prob >= threshold).astype(float) if objective == "indicator" else prob


def slopes(
    pairs: pl.DataFrame,
    response_kind: str,
    *,
    pair_slope_weight: float = 1.0,
    response_quantile: float = 0.5,
    response_caution: str = "slope",
    retention_probability: float | None = None,
) -> tuple[Slopes, tuple[np.ndarray, np.ndarray] | None]:
    """Each pair's slope by `response_kind` (module docstring; dml with response_caution "change": a
    ChangeSlopes), and with retention_probability (dml) the slopes at the two ends of the category
    slope's interval around the quantile's slope (the mean's under "change"), else None."""
    if response_kind == "dml":
        if "dml_slope" not in pairs.columns:
            raise InputError(
                "The 'optimize.response' option 'dml' needs the offer-response estimate; rerun `offerwise elasticity` with it."
            )
        sd = pairs.get_column("dml_slope_sd").fill_null(0.0).to_numpy().astype(float)
        mean = pairs.get_column("dml_slope").fill_null(0.0).to_numpy().astype(float)
        at = lambda q: np.maximum(mean + norm.ppf(q) * sd, 0.0)  # noqa: E731
        if response_caution == "change":
            base, slope = mean, ChangeSlopes(at(response_quantile), at(1 - response_quantile), np.maximum(mean, 0.0))
        else:
            base = mean + norm.ppf(response_quantile) * sd
            slope = np.maximum(base, 0.0)
    else:
        slope = pairs.get_column("pair_slope" if response_kind == "counterfactual" else "category_a").to_numpy().astype(float)
    if response_kind == "counterfactual" and slope.size:  # partial pooling: noisy per-pair slopes move toward the category's
        slope = pair_slope_weight * slope + (1 - pair_slope_weight) * slope.mean()
    if response_kind != "dml" or retention_probability is None:
        return slope, None
    if "dml_slope_category_se" not in pairs.columns:
        raise InputError("The 'optimize.retention_probability' option needs dml_slope_category_se; rerun `offerwise elasticity`.")
    half = norm.ppf(0.5 + retention_probability / 2) * pairs.get_column("dml_slope_category_se").fill_null(0.0).to_numpy()
    return slope, (np.maximum(base - half, 0.0), np.maximum(base + half, 0.0))


def build(
    pairs: pl.DataFrame,
    *,
    response_kind: str,
    objective: str,
    levels: CategoryLevels,
    unit_cost_share: float | None,
    pair_slope_weight: float = 1.0,
    response_quantile: float = 0.5,
    response_caution: str = "slope",
    retention_probability: float | None = None,
) -> Matrices:
    """pairs: price, reference_offer_pct, probability (f at k), threshold, category_a, pair_slope
    (dml: dml_slope, dml_slope_sd, and dml_slope_category_se with retention_probability).

    pair_slope_weight (counterfactual response): w x the pair's own slope + (1 - w) x the category's mean slope.
    retention_probability (dml): also build retention_low (module docstring); None: the point view only.
    """
    k = pairs.get_column("reference_offer_pct").to_numpy().astype(float)
    f = pairs.get_column("probability").to_numpy().astype(float)
    price = pairs.get_column("price").to_numpy().astype(float)[:, None]
    threshold = pairs.get_column("threshold").to_numpy().astype(float)[:, None]
    slope, ends = slopes(
        pairs,
        response_kind,
        pair_slope_weight=pair_slope_weight,
        response_quantile=response_quantile,
        response_caution=response_caution,
        retention_probability=retention_probability,
    )
    offers, eta, allowed, status_quo = _candidates(k, levels)
    prob = response(response_kind, f, k, slope, offers)
    unit_value = price * (1 - offers / 100) - (0.0 if unit_cost_share is None else unit_cost_share * price)
    retention = counted(objective, prob, threshold)
    value = unit_value * retention
    retention_low = None
    if ends is not None:
        retention_low = counted(objective, np.minimum(*(response(response_kind, f, k, end, offers) for end in ends)), threshold)
    return Matrices(offers, eta, prob, value, retention, prob * price * offers / 100, allowed, status_quo, retention_low)


def _candidates(k: np.ndarray, levels: CategoryLevels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(offers, eta, allowed, status_quo) of every pair: the rules' grid and the status quo column,
    or the paper's relative grid in its range (status quo: k itself, or the absolute level nearest to it)."""
    if levels.allowed is None:
        offers, eta, relative = offer_levels(k, levels.offer_range)
        nearest = np.abs(ABSOLUTE[None, :] - k[:, None]).argmin(axis=1)
        status_quo = np.where(relative, int(np.flatnonzero(STEPS == 0)[0]), nearest)
        return offers, eta, _in_range(offers, levels.offer_range), status_quo
    grid = np.asarray(levels.grid, dtype=float)
    n = k.size
    offers = np.concatenate([np.broadcast_to(grid, (n, grid.size)), k[:, None]], axis=1)
    allowed = np.concatenate([np.broadcast_to(np.isin(grid, levels.allowed), (n, grid.size)), np.ones((n, 1), bool)], axis=1)
    return offers, np.full(offers.shape, np.nan), allowed, np.full(n, grid.size)


def slope_options(cfg: OptimizeConfig) -> dict:
    """The config's keyword arguments of `slopes` and `build`: how the optimiser reads each pair's slope."""
    return {
        "pair_slope_weight": cfg.pair_slope_weight,
        "response_quantile": cfg.response_quantile,
        "response_caution": cfg.response_caution,
        "retention_probability": cfg.retention_probability,
    }


def pair_slope_frame(pairs: pl.DataFrame, cfg: OptimizeConfig) -> pl.DataFrame:
    """customer_id, item_id and the optimiser's slope of each pair: slope, and under response_caution
    "change" slope_fall (slope is then the rising one)."""
    slope, _ = slopes(pairs, cfg.response, **slope_options(cfg) | {"retention_probability": None})
    columns = {"slope": slope.rise, "slope_fall": slope.fall} if isinstance(slope, ChangeSlopes) else {"slope": slope}
    return pairs.select("customer_id", "item_id").with_columns(**{name: pl.Series(values) for name, values in columns.items()})
