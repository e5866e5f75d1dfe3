"""Offers decided per consumer and category: a consumer-category's options are its offer bundles.

A unit is one consumer's pairs in one category (m items at status quo offers k). Its options:
* the status quo bundle, every item at k (always allowed: the retailer's own plan);
* no offer on any item (allowed unless the rules forbid no offer);
* up to `max_offers` items offered, each at a non-zero level of the category's grid (allowed when the
  rules allow every level in it), the unit's other items at no offer. With one offer that is
  2 + m·L options over the unit's CANDIDATES items whose offer `screen` values most (its own gain
  exactly, what it takes from the others to first order); with more, every combination of up to
  `max_offers` of the BUNDLE_ITEMS of them whose best single offer gains most (fewer where that would
  make more than MAX_BUNDLES options), each at every level.
  The gap is certified over these bundles; every item of the unit is valued in each.

The response of pair i to a bundle o (the other offers' effect on the logit is the cross effect):

    logit p_i = logit f_i + s_i (o_i − k_i) + θ_c (X_i(o) − X_i(k)),    X_i(o) = Σ_{j≠i} w_j o_j

f_i is the model's probability at the status quo (its features already see the status quo's other
offers), s_i the pair's own slope (problem.slopes), w_j the consumer's share of their category
purchases (X is the panel's `cc_other_pressure`, features/interactions.py), θ_c the category's cross
slope (elasticity/dml/cross.py). Across categories (pooled slope θ_x): a bundle moves the pressure on
the consumer's other categories by Δ = Σ_i v_i (o_i − k_i) (v: the pair's share of all the consumer's
purchases); to first order their value changes by θ_x · Δ · G_value and their retention by
θ_x · Δ · G_retention, G = Σ over the consumer's pairs in other categories of p (1 − p) × (unit value,
or 1) at the status quo. Where the estimate gives φ_x (the own offer's pull on the consumer's
purchases in their other categories) it replaces this: φ_x Σ_i f_i (1 − f_i) (o_i − k_i) purchases at
their mean unit value (_cross_category); under the nested logit (choice_model.py) by the category's
log-sum, δ (log S(o) − log N0) (G_retention + the other categories' purchases outside the decision),
δ calibrated to φ_x (choice_model.cross_category_pull). First order in the other categories keeps the
decision separable by consumer-category; the indicator objective has no such term (an indicator has no derivative).

value(bundle) = Σ_i counted(p_i) · (price_i (1 − o_i / 100) − unit cost) + the cross-category term,
retention(bundle) = Σ_i counted(p_i) + its term (problem.counted). The solvers take one row per unit
and one column per option: units are grouped by their option count into dense blocks of power-of-two
widths, which the Lagrangian solver takes as it takes consumer shards.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from offerwise.optimize import choice_model
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.problem import Slopes, counted, moved, response
from offerwise.optimize.solvers import NEG, PairBlock
from offerwise.probability import clipped_logit

CANDIDATES = 12  # a consumer-category's items that may take its offer: those `screen` finds best (a large unit has hundreds)
BUNDLE_ITEMS = 6  # with several offers per consumer-category: the items combined, by their best single offer's gain
MAX_BUNDLES = 3_000  # ... fewer where their combinations at every level would give a unit more options than this
CHUNK = 2_000_000  # (option, pair) rows evaluated at a time: bounds the memory of a large consumer-category


@dataclass(frozen=True)
class PairArrays:
    """One category's pairs (sorted by consumer) as the bundle evaluation reads them."""

    kind: str  # optimize.response
    objective: str  # optimize.objective
    f: np.ndarray  # probability at the status quo
    k: np.ndarray  # status quo offer %
    slope: Slopes  # own slope per offer point (problem.ChangeSlopes: by the move's direction)
    ends: tuple[np.ndarray, np.ndarray] | None  # slopes at the category interval's ends (retention_probability)
    price: np.ndarray
    cost: np.ndarray  # unit cost
    threshold: np.ndarray
    w: np.ndarray  # share of the consumer's category purchases
    v: np.ndarray  # share of all the consumer's purchases
    theta: np.ndarray  # the category's cross slope (per pair)
    others: float  # the category's pull φ of an offer on the consumer's other purchases (NaN: not estimated)
    substitution: bool  # the category's cross slope interval lies below 0 (consumer_category.with_nested_logit)
    theta_x: float  # the pooled cross-category slope
    others_x: float  # φ_x: an offer point's pull on the consumer's purchases in other categories (NaN: not estimated)
    other_unit_value: np.ndarray  # the unit value of a purchase in the pair's consumer's other categories
    other_outside: np.ndarray  # ... their expected purchases of items outside the decision (inputs.cross_category_sensitivity)
    other_outside_value: np.ndarray  # ... and those purchases' value
    g_value: np.ndarray  # the pair's unit's G_value (module docstring)
    g_retention: np.ndarray
    pressure_k: np.ndarray  # X_i(k): the status quo's other offers in the pair's unit, share-weighted
    outside: np.ndarray  # the unit's expected purchases of items outside the decision (features/outside.py), per pair
    outside_value: np.ndarray  # ... and their value per purchase
    nested: tuple | None = None  # (b, b at the interval's ends or None, λ, N0 per pair): choice_model.py; None: the logit shift
    pull_x: float = float("nan")  # nested logit: δ, the cross-category pull per unit of log-sum (choice_model.cross_category_pull)

    @cached_property
    def logit_f(self) -> np.ndarray:
        """logit f per pair, once: every option's rows of the pair read it."""
        return clipped_logit(self.f)

    @cached_property
    def log_f(self) -> np.ndarray:
        """log f per pair (the nested logit's utilities), once."""
        return np.log(np.maximum(self.f, 1e-12))


@dataclass(frozen=True)
class Units:
    """Consecutive runs of one consumer's pairs: unit u holds pairs start[u] .. start[u] + size[u] − 1."""

    start: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, customers: np.ndarray) -> Units:
        if customers.size == 0:
            return cls(np.zeros(0, int), np.zeros(0, int))
        start = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
        return cls(start, np.diff(np.r_[start, customers.size]))

    def of_pairs(self) -> np.ndarray:
        """(n,) each pair's unit."""
        return np.repeat(np.arange(self.start.size), self.size)

    def unit_sums(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.start) if self.start.size else np.zeros(0)


@dataclass(frozen=True)
class Options:
    """Every unit's options, sorted by unit (status quo first, then no offer, then offered bundles)."""

    unit: np.ndarray  # (O,)
    items: np.ndarray  # (O, slots) offered pair indices, −1 for an empty slot
    levels: np.ndarray  # (O, slots) their offers %
    status_quo: np.ndarray  # (O,) bool
    allowed: np.ndarray  # (O,) bool

    @property
    def first(self) -> np.ndarray:
        """(U,) each unit's first option: its status quo."""
        return np.flatnonzero(self.status_quo)

    def take(self, index: np.ndarray) -> Options:
        return Options(self.unit[index], self.items[index], self.levels[index], self.status_quo[index], self.allowed[index])


def single_offers(units: Units, levels: CategoryLevels, eligible: np.ndarray | None = None) -> Options:
    """Status quo, no offer, and each `eligible` pair (default: every pair) alone at each non-zero level of the grid."""
    n, U = int(units.size.sum()), units.start.size
    grid = np.array([g for g in levels.grid if g > 0], dtype=float)
    allowed_levels = set(levels.allowed or ())
    chosen = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    pair = np.repeat(chosen, grid.size)
    n = chosen.size
    unit = np.r_[np.arange(U), np.arange(U), units.of_pairs()[pair]]
    kind = np.r_[np.zeros(U, int), np.ones(U, int), np.full(pair.size, 2)]
    items = np.r_[np.full(2 * U, -1), pair][:, None]
    offer = np.r_[np.zeros(2 * U), np.tile(grid, n)][:, None]
    allowed = np.r_[np.ones(U, bool), np.full(U, 0.0 in allowed_levels), np.isin(np.tile(grid, n), list(allowed_levels))]
    order = np.lexsort((np.arange(unit.size), kind, unit))
    return Options(unit[order], items[order], offer[order], kind[order] == 0, allowed[order])


def combined_offers(units: Units, levels: CategoryLevels, gain: np.ndarray, max_offers: int) -> Options:
    """Status quo, no offer, and every combination of up to `max_offers` of each unit's BUNDLE_ITEMS
    best items (by `gain`, their best single offer's gain over no offer), each at every non-zero level."""
    grid = [g for g in levels.grid if g > 0]
    allowed_levels = set(levels.allowed or ())
    count = lambda m: sum(math.comb(m, r) * len(grid) ** r for r in range(1, max_offers + 1))  # noqa: E731
    items = max([m for m in range(1, BUNDLE_ITEMS + 1) if count(m) <= MAX_BUNDLES] or [1])  # the options grow as levels^offers
    rows: list[tuple] = []
    for u, (start, size) in enumerate(zip(units.start, units.size, strict=True)):
        own = np.arange(start, start + size)
        best = own[np.argsort(-gain[own], kind="stable")[:items]]
        rows += [(u, (), (), True, True), (u, (), (), False, 0.0 in allowed_levels)]
        for r in range(1, min(max_offers, best.size) + 1):
            for chosen in itertools.combinations(sorted(best), r):
                for offer in itertools.product(grid, repeat=r):
                    rows.append((u, chosen, offer, False, all(o in allowed_levels for o in offer)))
    slots = max((len(r[1]) for r in rows), default=1) or 1
    pad = lambda values, fill: [list(v) + [fill] * (slots - len(v)) for v in values]  # noqa: E731
    return Options(
        np.array([r[0] for r in rows], dtype=int),
        np.array(pad([r[1] for r in rows], -1), dtype=int).reshape(len(rows), slots),
        np.array(pad([r[2] for r in rows], 0.0), dtype=float).reshape(len(rows), slots),
        np.array([r[3] for r in rows], dtype=bool),
        np.array([r[4] for r in rows], dtype=bool),
    )


def _chunks(opts: Options, units: Units) -> list[np.ndarray]:
    """Option indices in runs of at most CHUNK (option, pair) rows (one option may exceed it alone)."""
    rows = np.cumsum(units.size[opts.unit])
    edges = np.searchsorted(rows, np.arange(CHUNK, rows[-1] if rows.size else 0, CHUNK), side="right")
    return [np.arange(a, b) for a, b in itertools.pairwise(np.r_[0, edges, opts.unit.size]) if b > a]


@dataclass(frozen=True)
class Rows:
    """The (option, pair) rows of some options: each option's pairs are its unit's."""

    option: np.ndarray  # position among the options evaluated
    pair: np.ndarray
    offer: np.ndarray
    prob: np.ndarray
    counted: np.ndarray
    counted_low: np.ndarray | None
    unit_value: np.ndarray
    outside: np.ndarray | None = None  # per option: expected purchases outside the decision (nested logit only)
    log_s: np.ndarray | None = None  # per option: log S, the unit's log-sum (nested logit only)
    low_total: np.ndarray | None = None  # per option: what the retention constraint counts of its unit (nested logit, ends given)


def expand_units(units: Units, opts: Options) -> tuple[np.ndarray, np.ndarray]:
    """(option, pair) of every (option, pair of its unit) row."""
    size = units.size[opts.unit]
    option = np.repeat(np.arange(opts.unit.size), size)
    first_row = np.repeat(np.cumsum(size) - size, size)
    return option, np.repeat(units.start[opts.unit], size) + np.arange(option.size) - first_row


def offer_rows(p: PairArrays, units: Units, opts: Options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(option, pair, offer %) of every (option, pair of its unit) row."""
    option, pair = expand_units(units, opts)
    own = opts.items[option] == pair[:, None]
    offer = np.where(opts.status_quo[option], p.k[pair], (own * opts.levels[option]).sum(axis=1))
    return option, pair, offer


def rows_of(p: PairArrays, units: Units, opts: Options) -> Rows:
    option, pair, offer = offer_rows(p, units, opts)
    items, levels, sq = opts.items[option], opts.levels[option], opts.status_quo[option]
    others = (items >= 0) & (items != pair[:, None])
    pressure_k = p.pressure_k[pair]
    pressure = np.where(sq, pressure_k, (others * p.w[np.maximum(items, 0)] * levels).sum(axis=1))
    shift = (p.theta[pair] * (pressure - pressure_k))[:, None]
    f, k, threshold = p.f[pair], p.k[pair], p.threshold[pair]
    low = outside_prob = low_total = log_s = None
    if p.nested is not None:
        b, ends, lam, n0 = p.nested
        log_f = p.log_f[pair]
        outside = p.outside[units.start[opts.unit]]
        at = lambda slope: choice_model.probabilities(option, log_f + moved(slope[pair], offer - k), n0[pair], lam, outside)  # noqa: E731
        prob, outside_prob, log_s = at(b)
        low_total = _low_total(p, at, ends, option, threshold)
    else:
        logit_f = p.logit_f[pair] if p.kind != "linear" else None
        prob = response(p.kind, f, k, p.slope[pair], offer[:, None], shift, logit_f=logit_f)[:, 0]
        if p.ends is not None:
            ends = (response(p.kind, f, k, e[pair], offer[:, None], shift, logit_f=logit_f)[:, 0] for e in p.ends)
            low = counted(p.objective, np.minimum(*ends), threshold)
    unit_value = p.price[pair] * (1 - offer / 100) - p.cost[pair]
    counted_prob = counted(p.objective, prob, threshold)
    return Rows(option, pair, offer, prob, counted_prob, low, unit_value, outside=outside_prob, low_total=low_total, log_s=log_s)


def _low_total(p: PairArrays, at, ends, option: np.ndarray, threshold: np.ndarray) -> np.ndarray | None:
    """Per option, its unit's retention at the worse end of the slope interval (optimize.retention_probability)
    under the nested logit: one slope moves the offered item up and its neighbours down together, so the
    ends are taken per bundle, not per pair (each pair's worse end would count both at once)."""
    if ends is None:
        return None
    totals = []
    for slope in ends:
        prob, outside, _ = at(slope)
        totals.append(
            np.bincount(option, counted(p.objective, prob, threshold), minlength=outside.size)
            + (outside if p.objective == "expected" else 0.0)
        )
    return np.minimum(*totals)


def _cross_category(p: PairArrays, r: Rows, total, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per option, the change in value and retention of the consumer's other categories: with φ_x
    estimated, φ_x · Σ_i f_i (1 − f_i) (o_i − k_i) purchases at their unit value; else the pressure
    route, θ_x · Σ_i v_i (o_i − k_i) · G (module docstring). None under the indicator objective."""
    if p.objective != "expected":
        return 0.0, 0.0
    if r.log_s is not None and np.isfinite(p.pull_x):  # the nested logit's log-sum, calibrated to φ_x on the decided pairs
        shift = -p.pull_x * (r.log_s - np.log(np.maximum(p.nested[3][first], 1e-300)))
        decided = shift * p.g_retention[first]
        # ... and the same shift of the related categories' incidence takes from their items outside the decision
        return decided * p.other_unit_value[first] + shift * p.other_outside_value[first], decided + shift * p.other_outside[first]
    moved = r.offer - p.k[r.pair]
    if np.isfinite(p.others_x):
        f = p.f[r.pair]
        purchases = p.others_x * total(f * (1 - f) * moved)
        return purchases * p.other_unit_value[first], purchases
    shift = total(p.v[r.pair] * moved) * p.theta_x
    return shift * p.g_value[first], shift * p.g_retention[first]


def evaluate(p: PairArrays, units: Units, opts: Options) -> dict[str, np.ndarray]:
    """Per option: value, retention, constrained (what the retention constraint counts) and spend."""
    out = {name: np.zeros(opts.unit.size) for name in ("value", "retention", "constrained", "spend")}
    for index in _chunks(opts, units):
        part = opts.take(index)
        r = rows_of(p, units, part)
        total = lambda values: np.bincount(r.option, values, minlength=index.size)  # noqa: E731
        first = units.start[part.unit]
        value_x, kept_x = _cross_category(p, r, total, first)
        # Purchases outside the decision an offer takes share from: counted in value and retention as the decision's own.
        outside = r.outside if r.outside is not None and p.objective == "expected" else np.zeros(index.size)
        out["value"][index] = total(r.counted * r.unit_value) + value_x + outside * p.outside_value[first]
        out["retention"][index] = total(r.counted) + kept_x + outside
        low = r.counted if r.counted_low is None else r.counted_low
        kept = total(low) + outside if r.low_total is None else r.low_total
        out["constrained"][index] = kept + kept_x
        out["spend"][index] = total(r.prob * p.price[r.pair] * r.offer / 100)
    return out


@dataclass(frozen=True)
class Block:
    """Units with the same (padded) option count: their option ids and the solver's block."""

    units: np.ndarray  # (b,) unit indices
    option_ids: np.ndarray  # (b, W) option index, −1 on padding
    solver: PairBlock


def blocks(opts: Options, values: dict[str, np.ndarray], *, budget: bool) -> list[Block]:
    """Units grouped by their option count rounded up to a power of two, as dense (units x W) arrays."""
    count = np.bincount(opts.unit)
    if count.size == 0:
        return []
    first = opts.first
    width = 2 ** np.ceil(np.log2(np.maximum(count, 1))).astype(int)
    out = []
    for w in np.unique(width):
        members = np.flatnonzero(width == w)
        ids = first[members][:, None] + np.arange(w)[None, :]
        ids = np.where(np.arange(w)[None, :] < count[members][:, None], ids, -1)
        at = lambda name, fill: np.where(ids >= 0, values[name][np.maximum(ids, 0)], fill)  # noqa: E731
        allowed = (ids >= 0) & opts.allowed[np.maximum(ids, 0)]
        solver = PairBlock(at("value", NEG), at("constrained", 0.0), allowed, at("spend", 0.0) if budget else None)
        out.append(Block(members, ids, solver))
    return out


def screen(p: PairArrays, units: Units, levels: CategoryLevels) -> np.ndarray:
    """(n,) each pair's best gain, over the allowed non-zero levels, as the only offer of its unit
    against no offer: its own gain exactly, what it takes from the unit's other items to first order
    (θ · w_j · o · Σ_{i≠j} p_i (1 − p_i) · unit value_i, at no offer)."""
    grid = np.array([g for g in levels.grid if g > 0 and g in set(levels.allowed or ())], dtype=float)
    if grid.size == 0 or p.f.size == 0:
        return np.full(p.f.size, -np.inf)
    unit = units.of_pairs()
    pressure_k = p.pressure_k
    zero = np.zeros(p.f.size)
    at = lambda offers: response(p.kind, p.f, p.k, p.slope, offers, (-p.theta * pressure_k)[:, None])  # noqa: E731
    value = lambda offers: (
        counted(p.objective, at(offers), p.threshold[:, None]) * (p.price[:, None] * (1 - offers / 100) - p.cost[:, None])
    )  # noqa: E731
    base = value(zero[:, None])[:, 0]
    p0 = at(zero[:, None])[:, 0]
    sensitivity = p0 * (1 - p0) * (p.price - p.cost)
    others = units.unit_sums(sensitivity)[unit] - sensitivity
    gain = value(np.broadcast_to(grid, (p.f.size, grid.size))) - base[:, None] + (p.theta * p.w * others)[:, None] * grid[None, :]
    return gain.max(axis=1)


def eligible_pairs(score: np.ndarray, units: Units, most: int) -> np.ndarray:
    """(n,) bool: each unit's `most` pairs of highest score (every pair of a smaller unit)."""
    if score.size == 0:
        return np.zeros(0, bool)
    unit = units.of_pairs()
    order = np.lexsort((np.arange(score.size), -score, unit))
    rank = np.empty(score.size, int)
    rank[order] = np.arange(score.size) - np.repeat(units.start, units.size)
    return rank < most


def options_for(p: PairArrays, units: Units, levels: CategoryLevels, max_offers: int) -> tuple[Options, dict[str, np.ndarray]]:
    """Every unit's options and their values: single offers of its CANDIDATES pairs that `screen`
    best, or combinations of them when max_offers > 1."""
    singles = single_offers(units, levels, eligible_pairs(screen(p, units, levels), units, CANDIDATES))
    values = evaluate(p, units, singles)
    if max_offers <= 1:
        return singles, values
    offered = singles.items[:, 0] >= 0
    best = np.full(p.f.size, -np.inf)
    np.maximum.at(best, singles.items[offered, 0], values["value"][offered])
    none = values["value"][singles.first + 1][units.of_pairs()]
    combined = combined_offers(units, levels, best - none, max_offers)
    return combined, evaluate(p, units, combined)
