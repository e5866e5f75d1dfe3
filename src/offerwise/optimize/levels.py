"""The offer levels each category may use: the retailer's rules, not one fortnight's spread.

By `optimize.levels`:
* "history" (default): no offer (0) plus the depths the category ran in the whole history up to the
  cutoff, each snapped to the nearest `level_step`, up to the `max_depth_percentile` of its non-zero
  offers (also snapped): nothing deeper than what the category ran, and a few free items or 100 %
  coupons do not open 100 % offers;
* a list of offers %: the same levels in every category;
* "paper": the paper's relative grid k·(1 ± 0.05 j) inside the cutoff fortnight's offer range
  (optimize.problem.offer_levels), kept as a variant to compare against.
An offer rules file (data/offer_rules.py) sets the levels of the categories it names, whatever
`optimize.levels` says. Keeping the pair's status quo offer is always allowed: it is the retailer's own plan.

Every category also carries the grid "without rules" (0 to the deepest offer run in any category, by
`level_step`): the matrices hold it, so what the rules cost is the same problem with every level allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.config import OptimizeConfig


@dataclass(frozen=True)
class CategoryLevels:
    """allowed: the levels the rules allow (None: the paper's relative grid inside offer_range);
    grid: the candidate levels the problem holds (allowed ⊆ grid); cap: the history's depth cap."""

    source: str  # history / config / offer_rules / paper / none
    allowed: tuple[float, ...] | None
    grid: tuple[float, ...]
    offer_range: tuple[float, float]
    cap: float | None = None
    max_offers: int | None = None  # offers per consumer in the category (rules file); None: optimize.max_offers_per_category

    @classmethod
    def paper(cls, offer_range: tuple[float, float], grid: tuple[float, ...] = ()) -> CategoryLevels:
        """The paper's relative grid inside `offer_range`."""
        return cls("paper", None, grid, offer_range)

    def without_rules(self) -> CategoryLevels:
        return CategoryLevels("none", self.grid, self.grid, (min(self.grid), max(self.grid)), max_offers=self.max_offers)

    def to_dict(self) -> dict:
        out = {"source": self.source, "allowed": self.allowed, "grid": self.grid, "offer_range": self.offer_range, "cap": self.cap}
        return out if self.max_offers is None else out | {"max_offers": self.max_offers}

    @classmethod
    def from_dict(cls, d: dict) -> CategoryLevels:
        allowed = None if d["allowed"] is None else tuple(d["allowed"])
        return cls(d["source"], allowed, tuple(d["grid"]), tuple(d["offer_range"]), d.get("cap"), d.get("max_offers"))

    def text(self) -> str:
        """For people: "0, 10, 15, 20" or "paper: 12.5–30"."""
        if self.allowed is None:
            return f"paper: {self.offer_range[0]:g}–{self.offer_range[1]:g}"
        return ", ".join(f"{v:g}" for v in self.allowed)


def snap(offers: np.ndarray | float, step: float) -> np.ndarray:
    """Offers % to the nearest multiple of `step`."""
    return np.round(np.asarray(offers, dtype=float) / step) * step


def history_levels(offers: np.ndarray, *, step: float, max_percentile: float) -> tuple[tuple[float, ...], float]:
    """(levels, cap) from a category's offers over its history: 0, then each non-zero depth up to the
    percentile cap, snapped to `step` (the cap too)."""
    nonzero = offers[offers > 0]
    if nonzero.size == 0:
        return (0.0,), 0.0
    cap = float(np.percentile(nonzero, max_percentile))
    depths = snap(nonzero[nonzero <= cap], step)
    depths = depths[(depths > 0) & (depths <= snap(cap, step) + 1e-9)]
    return tuple(float(v) for v in np.unique(np.r_[0.0, depths])), cap


def unconstrained_grid(history: pl.DataFrame, step: float) -> tuple[float, ...]:
    """0 to the deepest non-zero offer any category ran (rounded up to `step`, at most 100), by `step`."""
    deepest = float(history.get_column("offer_pct").max() or 0.0)
    top = min(float(np.ceil(deepest / step - 1e-9) * step), 100.0)
    return tuple(float(v) for v in np.arange(0.0, top + step / 2, step))


def category_levels(
    inputs: pl.DataFrame,
    history: pl.DataFrame,
    cfg: OptimizeConfig,
    rules: pl.DataFrame | None = None,
) -> dict[str, CategoryLevels]:
    """Each category of the optimiser inputs' levels.

    inputs: category, cutoff_offer_pct (the paper's range); history: category, offer_pct of every
    pair and period up to the cutoff; rules: category, levels (list of %; data/offer_rules.py), max_offers (optional)."""
    grid = unconstrained_grid(history, cfg.level_step)
    ruled = {} if rules is None else dict(zip(rules.get_column("category"), rules.get_column("levels").to_list(), strict=True))
    most = {} if rules is None or "max_offers" not in rules.columns else dict(rules.select("category", "max_offers").iter_rows())
    offers = {c: g.get_column("offer_pct").to_numpy() for (c,), g in history.group_by("category")}
    out: dict[str, CategoryLevels] = {}
    for (category,), group in inputs.group_by("category", maintain_order=True):
        if category in ruled:
            out[category] = _given("offer_rules", ruled[category], grid, max_offers=most.get(category))
        elif cfg.levels == "paper":
            o_range = offer_range(group.get_column("cutoff_offer_pct").to_numpy(), cfg.offer_range_percentiles, cfg.level_step)
            out[category] = CategoryLevels("paper", None, grid, o_range)
        elif cfg.levels == "history":
            found = offers.get(category, np.zeros(0))
            allowed, cap = history_levels(found, step=cfg.level_step, max_percentile=cfg.max_depth_percentile)
            out[category] = _given("history", allowed, grid, cap=cap)
        else:
            out[category] = _given("config", cfg.levels, grid)
    return out


def _given(source: str, allowed, grid: tuple[float, ...], cap: float | None = None, max_offers: int | None = None) -> CategoryLevels:
    allowed = tuple(sorted({float(v) for v in allowed}))
    candidates = tuple(sorted(set(grid) | set(allowed)))
    return CategoryLevels(source, allowed, candidates, (allowed[0], allowed[-1]), cap, max_offers)


def offer_range(offers: np.ndarray, percentiles: tuple[float, float], step: float = 5.0) -> tuple[float, float]:
    """The paper's (o1, o2): percentiles of the non-zero offers of the category's pairs in the cutoff
    period (the latest known).

    A range with no `step` level inside (a category with one or two discounted lines, e.g. 42.7-42.7 %)
    is widened to the step around it, so there is something to choose from.
    """
    nonzero = offers[offers > 0]
    if nonzero.size == 0:
        return (0.0, 0.0)
    lo, hi = (float(v) for v in np.percentile(nonzero, percentiles))
    if np.floor(hi / step) * step < lo - 1e-9:
        lo, hi = float(np.floor(lo / step) * step), float(np.ceil(hi / step) * step)
    return lo, hi


def offers_known_at(panel: pl.DataFrame, fold: int, cutoff: int) -> pl.DataFrame:
    """category, offer_pct of every pair and period up to the cutoff that the decision `fold` knows
    (pairs relevant by then: a pair that became relevant later exists only because of later data)."""
    known = (pl.col("period") <= cutoff) & (pl.col("relevant_from_fold") <= fold)
    # the four columns first: filtering the whole panel copies every column of nearly every row
    return panel.select("category", "offer_pct", "period", "relevant_from_fold").filter(known).select("category", "offer_pct")
