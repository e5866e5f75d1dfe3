"""A retail simulator with known ground truth, written in the AmExpert 2019 layout.

Structure and parameters are documented in docs/simulator.md. In short, for consumer c, item i and
bi-weekly period t the purchase probability is

    p_cit = sigmoid(a_ci * offer_it + b_cit)
    b_cit = affinity_ci + need_cit + habit * h_cit + season_c(t) + drift_c(t) + s_it

so the response to the offer % is a sigmoid with slope a_ci (category sensitivity a_c times an age
and an individual multiplier); need_cit is the repurchase cycle, h_cit habit (decaying past purchases).

The retailer's offers offer_it come from an exogenous promotion calendar under
promotion_policy = "random" (the offer effect is then identifiable from raw associations). Under
"targeted" an AR(1) item demand shock s_it enters b_cit and the retailer promotes more often, and
deeper, after an item's sales were weak, so raw offer-purchase associations are confounded.

With substitution on (docs/simulator.md, Substitution) a consumer buys at most one item per category
and period: data/choice.py's nested logit replaces the independent sigmoids, with the same b_cit.

The dynamics run one period past the data: no transactions, only the planned offers and the true
response expected from the cutoff's state (future_truth). That state (SimState) is written beside the
data, so data/play.py can draw the fortnight under a run's offers and go on. Nothing here is fitted
to offerwise's model.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from offerwise.config import SimulationConfig
from offerwise.data import choice
from offerwise.data.simulate_frames import (
    PERIOD_DAYS,
    SimState,
    SimulatedData,
    category_frame,
    cross_frame,
    future_truth_frame,
    ground_truth_frame,
    item_frame,
    offer_frame,
)

AGE_RANGES = ["18-25", "26-35", "36-45", "46-55", "56-70", "70+"]
AGE_SHARES = [0.08, 0.22, 0.25, 0.22, 0.16, 0.07]
AGE_SENSITIVITY = [1.35, 1.2, 1.0, 0.9, 0.8, 0.7]  # younger households respond more to offers
OFFER_DEPTHS = np.array([10, 15, 20, 25, 30, 40, 50], dtype=float)
BASE_LOGIT = -3.0
HABIT = 0.45
HABIT_DECAY = 0.7
NEED_DIP = 1.4
DEPTH_TILT = 0.5  # targeted: log-weight per depth SD per unit of -strength * z (deeper after weak sales)
Z_CLIP = 3.0  # the retailer's weak-sales signal z is clipped to [-3, 3]
EXTRA_UNITS = 0.3  # a purchase is 1 + Poisson(0.3) units
COUPON_RATE, COUPON_DEPTH = 0.03, (0.1, 0.2)  # a coupon of 10-20 % on 3 % of lines
# What one purchase pays in expectation, in units of price x (1 - offer): the truth of realised net revenue.
PAID_PER_PURCHASE = (1 + EXTRA_UNITS) * (1 - COUPON_RATE * sum(COUPON_DEPTH) / 2)


def hidden_state(cfg: SimulationConfig, rng: np.random.Generator | None = None) -> dict[str, dict]:
    """The world no data file shows: categories, items, customers, pairs (affinity, slope `a`) and the
    dynamics (`truth`, period x pair), drawn in `simulate`'s order (pass its rng to go on drawing)."""
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    periods = max(cfg.weeks // 2, 1)
    world = static_world(cfg, rng)
    categories, items, customers, pairs = world["categories"], world["items"], world["customers"], world["pairs"]
    draws = _offer_draws(cfg, rng, items, periods)
    truth = _run_dynamics(cfg, rng, pairs, items, customers, categories, draws, periods)
    return {**world, "truth": truth}


def static_world(cfg: SimulationConfig, rng: np.random.Generator | None = None) -> dict[str, dict]:
    """Categories, items, customers and pairs: the first draws of the seed's stream, so they do not
    depend on the weeks simulated (data/play.py rebuilds them to play a further fortnight)."""
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    categories = _categories(cfg, rng)
    items = _items(cfg, rng)
    customers = _customers(cfg, rng)
    return {"categories": categories, "items": items, "customers": customers, "pairs": _pairs(cfg, rng, items, customers, categories)}


def simulate(cfg: SimulationConfig) -> SimulatedData:
    rng = np.random.default_rng(cfg.seed)
    world = hidden_state(cfg, rng)
    categories, items, customers, truth = world["categories"], world["items"], world["customers"], world["truth"]
    periods = max(cfg.weeks // 2, 1)
    offers = truth["item_offer"]  # (items, periods + 1): the data periods, then the plan
    return SimulatedData(
        transactions=draw_transactions(cfg, rng, truth["pairs"], items, truth["bought"], truth["offer"]),
        items=item_frame(items),
        demographics=_demographics(rng, customers),
        ground_truth=ground_truth_frame(cfg, truth, items),
        categories=category_frame(categories),
        offer_history=offer_frame(cfg, items, offers[:, :periods], first_period=0),
        planned_offers=offer_frame(cfg, items, offers[:, periods:], first_period=periods),
        future_truth=future_truth_frame(cfg, truth, items),
        cross=cross_frame(categories["related"]) if cfg.substitution else None,
        state=truth["state"],
    )


def _categories(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # W of related categories from a stream of its own, so the main stream is the one without substitution.
    related = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(2,)))
    return {
        "a": rng.uniform(0.015, 0.06, cfg.categories),  # logit change per offer percentage point
        "phase": rng.uniform(0, 2 * np.pi, cfg.categories),
        "season_amp": rng.uniform(0.1, 0.4, cfg.categories),
        "holiday": rng.uniform(0.0, 0.5, cfg.categories),
        "related": choice.related_categories(cfg.categories, related),  # (categories, categories)
    }


def _items(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = cfg.items
    category = np.sort(rng.integers(0, cfg.categories, n))
    category[: cfg.categories] = np.arange(min(cfg.categories, n))  # every category has an item
    return {
        "item_id": np.arange(1, n + 1) + 10_000,
        "category": category,
        "price": np.round(np.exp(rng.normal(1.0 + 0.15 * category, 0.5)), 2),
        "popularity": rng.normal(0, 0.7, n),
        "cycle": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.35, 0.3, 0.2, 0.15]),
        "promo_rate": rng.beta(2, 5, n),
        "brand": rng.integers(1, max(n // 4, 2), n),
        "local": rng.random(n) < 0.25,
    }


def _customers(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = cfg.customers
    age = rng.choice(len(AGE_RANGES), n, p=AGE_SHARES)
    return {
        "customer_id": np.arange(1, n + 1),
        "activity": rng.normal(0, 0.6, n),
        "age": age,
        "sensitivity": np.array(AGE_SENSITIVITY)[age] * np.exp(rng.normal(0, 0.25, n)),
    }


def _pairs(cfg, rng, items, customers, categories) -> dict[str, np.ndarray]:
    """Each consumer considers a popularity-weighted set of items (the only pairs that can sell)."""
    sizes = np.clip(rng.poisson(cfg.items_per_customer, cfg.customers), 1, cfg.items)
    weights = np.exp(items["popularity"])
    # Gumbel top-k: one vectorised draw of k items without replacement per consumer.
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((cfg.customers, cfg.items))))
    order = np.argsort(-keys, axis=1)
    cust_idx = np.repeat(np.arange(cfg.customers), sizes)
    item_idx = np.concatenate([order[c, : sizes[c]] for c in range(cfg.customers)])
    cat = items["category"][item_idx]
    n = cust_idx.size
    return {
        "cust": cust_idx,
        "item": item_idx,
        "affinity": BASE_LOGIT + customers["activity"][cust_idx] + items["popularity"][item_idx] + rng.normal(0, 0.6, n),
        "a": categories["a"][cat] * customers["sensitivity"][cust_idx] * np.exp(rng.normal(0, 0.2, n)),
    }


def _offer_draws(cfg: SimulationConfig, rng: np.random.Generator, items: dict[str, np.ndarray], periods: int) -> dict:
    """The random numbers behind the retailer's offers and the demand shocks, drawn up front.

    The calendar's draws come from the main stream in the same order as ever, so a "random"
    simulation's data files do not change with the fortnight after the data or with the targeted
    policy; the plan for that fortnight, the targeted depths and the shocks come from a second
    stream of the same seed. Under "targeted" with strength 0 the promotion draws are the same
    numbers as under "random" (common random numbers), so only the depths differ, in draw not in law.
    """
    n = items["item_id"].size
    promo_u = rng.random((n, periods))
    depth = rng.choice(OFFER_DEPTHS, size=(n, periods))
    everyday = np.where(rng.random(n) < 0.2, 5.0, 0.0)
    extra = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(1,)))
    promo_u = np.concatenate([promo_u, extra.random((n, 1))], axis=1)  # (items, periods + 1)
    depth = np.concatenate([depth, extra.choice(OFFER_DEPTHS, size=(n, 1))], axis=1)
    depth_u = extra.random((n, periods + 1))  # targeted depths, by inverse CDF of tilted weights
    innovation = extra.normal(0.0, 1.0, (n, periods))
    shock = np.zeros((n, periods + 1))
    if cfg.promotion_policy == "targeted" and cfg.shock_sd > 0:
        shock[:, 0] = innovation[:, 0] * cfg.shock_sd / np.sqrt(1 - cfg.shock_rho**2)  # stationary start
        for t in range(1, periods):
            shock[:, t] = cfg.shock_rho * shock[:, t - 1] + cfg.shock_sd * innovation[:, t]
        shock[:, periods] = cfg.shock_rho * shock[:, periods - 1]  # the expected shock after the data
    return {"promo_u": promo_u, "depth": depth, "depth_u": depth_u, "everyday": everyday, "shock": shock}


def _weak_sales(sales: np.ndarray, promoted: np.ndarray, t: int) -> np.ndarray:
    """z_{i,t-1}: the item's buyers in t-1 against its mean over earlier periods of the same promotion
    status (a promoted period is judged against promoted ones), in Poisson SDs; 0 without history."""
    if t < 2:
        return np.zeros(sales.shape[0])
    same = promoted[:, : t - 1] == promoted[:, t - 1, None]
    count = same.sum(axis=1)
    baseline = np.where(same, sales[:, : t - 1], 0.0).sum(axis=1) / np.maximum(count, 1)
    z = (sales[:, t - 1] - baseline) / np.sqrt(baseline + 1.0)
    return np.where(count > 0, np.clip(z, -Z_CLIP, Z_CLIP), 0.0)


def draws_at(draws: dict, t: int) -> dict[str, np.ndarray]:
    """Period t's promotion draws (items,) and the everyday offers."""
    return {
        "promo_u": draws["promo_u"][:, t],
        "depth": draws["depth"][:, t],
        "depth_u": draws["depth_u"][:, t],
        "everyday": draws["everyday"],
    }


def offers_for(cfg: SimulationConfig, items, draws: dict, sales: np.ndarray, offers: np.ndarray, t: int) -> np.ndarray:
    """The retailer's offer % per item in period t, decided from sales up to t - 1; `draws` are
    period t's (draws_at), sales (items, >= t) and offers (items, t) the periods before."""
    rate = items["promo_rate"]
    if cfg.promotion_policy == "random":
        promoted = draws["promo_u"] < rate
        return np.where(promoted, draws["depth"], draws["everyday"])
    signal = -cfg.promotion_strength * _weak_sales(sales, offers > draws["everyday"][:, None], t)  # > 0 after weak sales
    promoted = draws["promo_u"] < 1 / (1 + np.exp(-(np.log(rate / (1 - rate)) + signal)))
    standard = (OFFER_DEPTHS - OFFER_DEPTHS.mean()) / OFFER_DEPTHS.std()
    weights = np.exp(DEPTH_TILT * signal[:, None] * standard[None, :])
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    index = np.minimum((draws["depth_u"][:, None] > cdf).sum(axis=1), OFFER_DEPTHS.size - 1)
    return np.where(promoted, OFFER_DEPTHS[index], draws["everyday"])


def season(cfg: SimulationConfig, categories, periods: int, first: int = 0) -> np.ndarray:
    """season_k(t) for periods first .. first + periods - 1: (categories, periods)."""
    starts = [cfg.start + dt.timedelta(days=PERIOD_DAYS * t) for t in range(first, first + periods)]
    week = np.array([s.isocalendar()[1] for s in starts], dtype=float)
    holiday = np.array([s.month == 12 and s.day >= 10 for s in starts], dtype=float)
    wave = categories["season_amp"][:, None] * np.sin(2 * np.pi * week[None, :] / 52 + categories["phase"][:, None])
    return wave + categories["holiday"][:, None] * holiday[None, :]  # (categories, periods)


def probability(cfg: SimulationConfig, pairs, cat: np.ndarray, related: np.ndarray, offer: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each pair's purchase probability in a period, at every item's offer in force jointly."""
    if not cfg.substitution:
        return 1 / (1 + np.exp(-(pairs["a"] * offer + base)))  # pairs drawn independently
    utility = pairs["a"] * offer + base
    return choice.nested_probability(utility, base, pairs["cust"], cat, related, expansion=cfg.category_expansion, cross=cfg.cross_category)


def base_logit(pairs, items, since_last, habit, season_t, drift_t, shock_t) -> np.ndarray:
    """b_cit (pairs,) from the pair's history (since_last, habit: (pairs,)) and period t's season
    (categories,), drift (customers,) and item shock (items,)."""
    need = -NEED_DIP * np.exp(-(since_last - 1) / items["cycle"][pairs["item"]])
    base = pairs["affinity"] + need + HABIT * habit + season_t[items["category"][pairs["item"]]] + drift_t[pairs["cust"]]
    return base + shock_t[pairs["item"]]


def next_history(habit: np.ndarray, since_last: np.ndarray, bought: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Habit and periods since the last purchase (pairs,) after a period with purchases `bought`."""
    return HABIT_DECAY * habit + bought, np.where(bought > 0, 1.0, since_last + 1)


def draw_purchases(cfg: SimulationConfig, rng: np.random.Generator, prob: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One period's purchases (pairs,): independent pairs, or one item at most per consumer-category."""
    return rng.random(prob.size) < prob if not cfg.substitution else choice.draw_choices(prob, groups, rng)


def _run_dynamics(cfg, rng, pairs, items, customers, categories, draws, periods) -> dict[str, np.ndarray]:
    """Periods 0..periods-1 are the data; period `periods` is the fortnight after it, not drawn.

    Its base logit is the expectation given the state at the cutoff: habit and the repurchase state
    after the last data period, that period's season, the drift's last value (a random walk) and the
    AR(1) shock's expectation rho * s_last. `state` is that state (data/play.py goes on from it).
    """
    n = pairs["cust"].size
    n_items = items["item_id"].size
    cat = items["category"][pairs["item"]]
    season_kt = season(cfg, categories, periods + 1)
    drift = np.cumsum(rng.normal(0, 0.05, (cfg.customers, periods)), axis=1)
    drift = np.concatenate([drift, drift[:, -1:]], axis=1)  # the walk's expected value after the data
    since_last = rng.integers(1, 8, n).astype(float)  # history before the data starts
    habit = np.zeros(n)
    groups = choice.group_ids(pairs["cust"], cat)  # (pairs,) consumer x category: one purchase each with substitution
    prob, base, offer = (np.empty((periods + 1, n)) for _ in range(3))
    bought = np.empty((periods, n))
    item_offer = np.empty((n_items, periods + 1))
    sales = np.zeros((n_items, periods))  # buyers per item and period: what the retailer sees
    for t in range(periods + 1):
        item_offer[:, t] = offers_for(cfg, items, draws_at(draws, t), sales, item_offer[:, :t], t)
        base[t] = base_logit(pairs, items, since_last, habit, season_kt[:, t], drift[:, t], draws["shock"][:, t])
        offer[t] = item_offer[pairs["item"], t]
        prob[t] = probability(cfg, pairs, cat, categories["related"], offer[t], base[t])
        if t == periods:
            break
        bought[t] = draw_purchases(cfg, rng, prob[t], groups)
        sales[:, t] = np.bincount(pairs["item"], weights=bought[t], minlength=n_items)
        habit, since_last = next_history(habit, since_last, bought[t])
    shock = draws["shock"][pairs["item"]].T  # (periods + 1, pairs)
    state = SimState(
        round=0,
        customer_id=pairs["cust"] + 1,
        item_id=items["item_id"][pairs["item"]],
        habit=habit,
        since_last=since_last,
        drift=drift[:, periods - 1],
        shock=draws["shock"][:, periods - 1],
        everyday=draws["everyday"],
        sales=sales,
        item_offer=item_offer,
    )
    return {
        "pairs": pairs,
        "prob": prob,
        "base": base,
        "offer": offer,
        "bought": bought,
        "shock": shock,
        "item_offer": item_offer,
        "state": state,
    }


def draw_transactions(cfg, rng, pairs, items, bought: np.ndarray, offer: np.ndarray, first_period: int = 0) -> pl.DataFrame:
    """Transaction lines of the purchases `bought` (periods, pairs) from period `first_period` on, with
    the discount of each pair's offer % (offer: (>= periods, pairs)) and a coupon on 3 % of lines."""
    t_idx, p_idx = np.nonzero(bought)
    order = np.lexsort((p_idx, t_idx))
    t_idx, p_idx = t_idx[order], p_idx[order]
    item = pairs["item"][p_idx]
    day = rng.integers(0, PERIOD_DAYS, t_idx.size)
    dates = np.datetime64(cfg.start) + ((first_period + t_idx) * PERIOD_DAYS + day).astype("timedelta64[D]")
    quantity = 1 + rng.poisson(EXTRA_UNITS, t_idx.size)
    gross = quantity * items["price"][item]
    other = 0.0 - np.round(gross * offer[t_idx, p_idx] / 100, 2) + 0.0  # no '-0.0' in the files
    coupon = np.where(rng.random(t_idx.size) < COUPON_RATE, -np.round(gross * rng.uniform(*COUPON_DEPTH, t_idx.size), 2), 0.0) + 0.0
    frame = pl.DataFrame(
        {
            "date": dates,
            "customer_id": pairs["cust"][p_idx] + 1,
            "item_id": items["item_id"][item],
            "quantity": quantity,
            "selling_price": np.round(gross + other + coupon, 2),
            "other_discount": other,
            "coupon_discount": coupon,
        }
    )
    return frame.sort("date", "customer_id", "item_id").with_columns(pl.col("date").cast(pl.Date))


def _demographics(rng: np.random.Generator, customers: dict[str, np.ndarray]) -> pl.DataFrame:
    """About 60 % of consumers have demographics, with the source's gaps and '5+' style strings."""
    n = customers["customer_id"].size
    keep = rng.random(n) < 0.6
    family = rng.choice(["1", "2", "3", "4", "5+"], n, p=[0.25, 0.35, 0.18, 0.12, 0.1])
    children = _with_gaps(rng.choice(["1", "2", "3+"], n), rng.random(n) < 0.6)
    return pl.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "age_range": np.array(AGE_RANGES)[customers["age"]],
            "marital_status": _with_gaps(rng.choice(["Married", "Single"], n), rng.random(n) < 0.4),
            "rented": rng.choice([0, 1], n, p=[0.85, 0.15]),
            "family_size": family,
            "no_of_children": children,
            "income_bracket": rng.integers(1, 13, n),
        }
    ).filter(pl.Series(keep))


def _with_gaps(values: np.ndarray, missing: np.ndarray) -> pl.Series:
    return pl.Series(values.tolist(), dtype=pl.String).scatter(np.flatnonzero(missing), None)
