"""Substitution in the simulator: a nested multinomial logit with category incidence.

For consumer c and category k (a "group" g) with considered items i, base logits b_i and offers o_i:

    u_i = b_i + a_i · o_i,   IV_g = log Σ_{i∈g} exp(u_i),   IV0_g = log Σ_{i∈g} exp(b_i)
    P_g = sigmoid(IV0_g + λ · (IV_g − IV0_g) − δ · X_g),   X_g = Σ_k' W[k, k'] · (IV_c,k' − IV0_c,k')
    p_i = P_g · exp(u_i − IV_g)

so a buying consumer picks one item per category and period (Σ_{i∈g} p_i = P_g ≤ 1). λ is the
category expansion (1: a plain MNL with an outside option; below 1 an offer mostly moves share
within the category), δ the cross-category pull of offers in related categories W. See
docs/simulator.md, Substitution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from offerwise.probability import expit

NEEDED = ("customer_id", "category", "true_a", "true_b")


@dataclass(frozen=True)
class ChoiceWorld:
    """How the simulator's true response treats a plan: independent pairs or the nested logit."""

    substitution: bool = False
    expansion: float = 0.5  # λ
    cross: float = 0.0  # δ
    weights: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (category, related category) -> W

    def __post_init__(self) -> None:
        if not 0 < self.expansion <= 1:
            raise ValueError(f"The 'expansion' parameter of ChoiceWorld must be in (0, 1]. Got {self.expansion} instead.")
        if self.cross < 0:
            raise ValueError(f"The 'cross' parameter of ChoiceWorld must be >= 0. Got {self.cross} instead.")


def related_categories(n: int, rng: np.random.Generator) -> np.ndarray:
    """W (n, n): each category related to 1–2 others with weights U(0.3, 1), zero diagonal."""
    weights = np.zeros((n, n))
    for k in range(n):
        others = np.delete(np.arange(n), k)
        count = min(int(rng.integers(1, 3)), others.size)
        chosen = rng.choice(others, count, replace=False)
        weights[k, chosen] = rng.uniform(0.3, 1.0, count)
    return weights


def _group_index(consumer: np.ndarray, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's dense group (0..G-1, ordered by consumer then category) and a pair of each group."""
    span = int(category.max()) + 1 if category.size else 1
    _, first, group = np.unique(consumer.astype(np.int64) * span + category, return_index=True, return_inverse=True)
    return group.reshape(-1), first


def group_ids(consumer: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Dense group id (0..G-1, ordered by consumer then category) of each pair."""
    return _group_index(consumer, category)[0]


def _log_sum_exp(u: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """log Σ_{i∈g} exp(u_i) per group, shifted by the group's max so exp cannot overflow."""
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, group, u)
    return top + np.log(np.bincount(group, weights=np.exp(u - top[group]), minlength=n_groups))


def _cross_term(gain: np.ndarray, consumer: np.ndarray, category: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """X_g = Σ_k' W[k_g, k'] · gain_{c_g, k'} (gain 0 where the consumer has no item in k')."""
    codes, row = np.unique(consumer, return_inverse=True)
    table = np.zeros((codes.size, weights.shape[0]))  # (consumers, categories)
    table[row, category] = gain
    return np.einsum("gk,gk->g", table[row], weights[category])


@dataclass(frozen=True)
class _Groups:
    id: np.ndarray  # (pairs,) dense group of each pair
    iv: np.ndarray  # (groups,) log Σ exp(u)
    iv0: np.ndarray  # (groups,) log Σ exp(base)
    cross: np.ndarray  # (groups,) X_g


def _groups(utility, base, consumer, category, weights) -> _Groups:
    group, first = _group_index(consumer, category)
    iv, iv0 = _log_sum_exp(utility, group, first.size), _log_sum_exp(base, group, first.size)
    return _Groups(group, iv, iv0, _cross_term(iv - iv0, consumer[first], category[first], weights))


def _incidence_logit(iv: np.ndarray, iv0: np.ndarray, x: np.ndarray, expansion: float, cross: float) -> np.ndarray:
    return iv0 + expansion * (iv - iv0) - cross * x


def nested_probability(
    utility: np.ndarray,
    base: np.ndarray,
    consumer: np.ndarray,
    category: np.ndarray,
    weights: np.ndarray,
    *,
    expansion: float,
    cross: float,
) -> np.ndarray:
    """p_i (pairs,) with every pair's utility u_i in force jointly; category holds codes into weights (K, K)."""
    groups = _groups(utility, base, consumer, category, weights)
    incidence = expit(_incidence_logit(groups.iv, groups.iv0, groups.cross, expansion, cross))
    return incidence[groups.id] * np.exp(utility - groups.iv[groups.id])


def draw_choices(prob: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most one purchase per group: one uniform per group picks the item whose slice of [0, P_g) it
    falls in, or none when it is past P_g. Returns a bool per pair, in prob's order."""
    if group.size == 0:
        return np.zeros(0, dtype=bool)
    n = int(group.max()) + 1
    order = np.argsort(group, kind="stable")
    g, p = group[order], prob[order]
    starts = np.r_[True, g[1:] != g[:-1]]  # (pairs,) first pair of its group
    cum = np.cumsum(p)
    upper = cum - (cum - p)[starts][np.cumsum(starts) - 1]  # Σ p up to and including the pair, within its group
    past = rng.random(n)[g] < upper  # monotone within a group: False ... False True ... True
    chosen = past & (starts | ~np.r_[False, past[:-1]])  # the first pair past the uniform, so at most one
    bought = np.empty(group.size, dtype=bool)
    bought[order] = chosen
    return bought


def _check(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in (*NEEDED, *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"The 'frame' parameter must have the columns {[*NEEDED, *columns]}. Missing {missing}.")


def _codes(frame: pl.DataFrame, categories: Sequence[str]) -> np.ndarray:
    index = {name: k for k, name in enumerate(categories)}
    unknown = sorted(set(frame.get_column("category").unique().to_list()) - set(index))
    if unknown:
        raise ValueError(f"The 'categories' parameter must name every category of the frame. Got none for {unknown}.")
    return np.array([index[c] for c in frame.get_column("category").to_list()], dtype=np.int64)


def _arrays(frame: pl.DataFrame, *columns: str) -> list[np.ndarray]:
    return [frame.get_column(c).cast(pl.Float64).to_numpy() for c in columns]


def plan_probability(
    frame: pl.DataFrame, offer_column: str, *, expansion: float, cross: float, weights: np.ndarray, categories: Sequence[str]
) -> pl.Series:
    """Each pair's purchase probability with every offer of the plan in force jointly. frame: one row
    per pair (customer_id, category, true_a, true_b and `offer_column`), every considered item of a
    consumer's categories (a missing item is an item the consumer does not consider); weights (K, K)
    is W with rows and columns in `categories`' order."""
    _check(frame, [offer_column])
    a, b, offer = _arrays(frame, "true_a", "true_b", offer_column)
    consumer, category = frame.get_column("customer_id").to_numpy(), _codes(frame, categories)
    p = nested_probability(a * offer + b, b, consumer, category, weights, expansion=expansion, cross=cross)
    return pl.Series("true_probability", p)


def weight_matrix(weights: Mapping[tuple[str, str], float], categories: Sequence[str]) -> np.ndarray:
    """W (K, K) in `categories`' order from (category, related category) -> weight; pairs outside it are dropped."""
    index = {name: k for k, name in enumerate(categories)}
    matrix = np.zeros((len(categories), len(categories)))
    for (k, related), w in weights.items():
        if k in index and related in index:
            matrix[index[k], index[related]] = w
    return matrix


def _world_categories(frame: pl.DataFrame, world: ChoiceWorld) -> list[str]:
    return sorted(set(frame.get_column("category").unique().to_list()) | {k for pair in world.weights for k in pair})


def true_probability_under(frame: pl.DataFrame, offer_column: str, world: ChoiceWorld) -> pl.Series:
    """The simulator's true probability of each pair at the plan `offer_column`: sigmoid(true_a · o + true_b)
    without substitution, plan_probability (the offers jointly) with it."""
    if not world.substitution:
        _check(frame, [offer_column])
        a, b, offer = _arrays(frame, "true_a", "true_b", offer_column)
        return pl.Series("true_probability", expit(a * offer + b))
    categories = _world_categories(frame, world)
    matrix = weight_matrix(world.weights, categories)
    return plan_probability(frame, offer_column, expansion=world.expansion, cross=world.cross, weights=matrix, categories=categories)


def one_at_a_time_probability(frame: pl.DataFrame, offer_column: str, reference_column: str, world: ChoiceWorld) -> pl.Series:
    """Each pair's probability when only its own offer moves to `offer_column`, every other pair at
    `reference_column`: S' = S_ref − exp(u_ref) + exp(u_new) in its group, X_g at the reference."""
    if not world.substitution:
        return true_probability_under(frame, offer_column, world)
    _check(frame, [offer_column, reference_column])
    a, b, offer, reference = _arrays(frame, "true_a", "true_b", offer_column, reference_column)
    categories = _world_categories(frame, world)
    consumer, category = frame.get_column("customer_id").to_numpy(), _codes(frame, categories)
    u_ref, u_new = a * reference + b, a * offer + b
    groups = _groups(u_ref, b, consumer, category, weight_matrix(world.weights, categories))
    iv = groups.iv[groups.id]
    top = np.maximum(iv, u_new)  # shift so no exp overflows; S_ref − exp(u_ref) ≥ 0 up to rounding
    rest = np.maximum(np.exp(iv - top) - np.exp(u_ref - top), 0.0)
    iv_new = top + np.log(rest + np.exp(u_new - top))
    z = _incidence_logit(iv_new, groups.iv0[groups.id], groups.cross[groups.id], world.expansion, world.cross)
    return pl.Series("true_probability", expit(z) * np.exp(u_new - iv_new))
