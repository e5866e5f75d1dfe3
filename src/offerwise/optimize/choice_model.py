"""A consumer-category's response to a bundle as a nested logit calibrated to the estimated slopes
(optimize.bundle_response = "nested_logit", the default; bundles.py's logit shift is the other: docs/optimization.md).

Within a consumer-category the status quo probabilities f_i and the purchases outside the decision
F (items the consumer buys too seldom to be decided: features/outside.py, never offered) give the
expected category purchases N0 = Σ f + F and the shares s_i = f_i / N0. Under a bundle o:

    u_i = log f_i + b_i (o_i − k_i),   S = Σ exp(u_i) + F,   logit N(o) = logit N0 + λ log(S / N0),   p_i = N(o) exp(u_i) / S

(the purchases outside the decision are N(o) F / S: an offer takes share from them too)

so an offer moves share from the consumer's other items (S grows) and grows the category's incidence
N by λ on the logit scale, as the published store models' nested logit does (docs/simulator.md): where
the consumer already buys the category often, an offer mostly moves share (a log-linear N would let
the category grow without bound and overstate the expansion by 1 / (1 − N0)). At the status quo
p_i = f_i. Calibration there: the own slope d logit p_i / d o_i = b_i (1 − s_i (1 − κ)) / (1 − f_i)
is the estimated own slope (on average over the category: `_conversion`), and the cross slope
d logit p_i / d o_j = −b_j s_j (1 − κ) / (1 − f_i) is the estimated θ_c w_j (w ≈ s), where κ = λ (1 − N0); so κ_c = 1 + θ_c (1 − f̄) / b̄, clipped to
[0.1, 1], and λ_c = κ_c / (1 − N̄0), b̄ the category's mean utility slope: a fixed point, a few
iterations. Where the estimate gives φ_c, the offer's pull on the consumer's other purchases
(elasticity/dml/cross.py: d E[O_i] / d o_i = q_i φ_c, O_i the other decided pairs' purchases, q_i =
f_i (1 − f_i)), κ comes from it instead: d O_i / d o_i = −f_i b_i (1 − κ) O_i / N0, so
1 − κ_c = −φ_c mean(q²) / mean(q f b O / N0): φ_c is the slope of a regression of O_i on q_i (T − m_T),
which weighs each pair's q_i φ_i = −(1 − κ) f_i b_i O_i / N0 by q_i² (with one residual offer variance),
so the pairs the consumer buys most, whose other items are a small share of the category, weigh most;
matched with equal weights instead (mean(q) / mean(f b O / N0)), λ came out 0.43–0.92 on the
simulator against its 0.5 (docs/results.md). φ has the own offer as treatment, so what attenuates the
estimated own slope attenuates it alike; θ_c's treatment, the share-weighted pressure, is measured with
error in its shares and came out about half the simulator's true pull (docs/results.md). κ is held
at 0.1 or more (KAPPA_FLOOR): at 0 a consumer who buys one item of the category could not respond to
its offer at all, and the calibrated utility slope would be unbounded. κ = 1 (no cross slope) leaves
the items independent at the status quo (λ = 1 / (1 − N̄0), above a random-utility nested logit's
1: a local fit, not a choice model). A category where no substitution is found (θ_c's interval
reaches 0) keeps bundles.py's logit shift (consumer_category.with_nested_logit): for large moves the
nested logit moves share between items even at θ = 0.
So does a category that is not single-choice (`single_choice`): the incidence N is a probability,
which a department the consumer buys several items of each fortnight (N0 of 2–45 in the Complete
Journey's GROCERY) is not.
Across categories the option's log S moves the consumer's other categories (`cross_category_pull`,
bundles._cross_category), as the published models' log-sum does.
"""

from __future__ import annotations

import numpy as np

from offerwise.probability import expit

ITERATIONS = 8
SINGLE_CHOICE_QUANTILE = 0.95  # ... of the units' N0 (outside purchases included) below 1: bought once a fortnight at most
MAX_INCIDENCE = 0.99  # a unit above it (bought more than once a fortnight) is held here: `probabilities`
KAPPA_FLOOR = 0.1  # κ → 0 would need an unbounded utility slope for a consumer buying one item of the category


def single_choice(n0: np.ndarray) -> bool:
    """Whether a category's units (N0 = Σ f per consumer-category) fit a single-choice incidence."""
    return n0.size == 0 or float(np.quantile(n0, SINGLE_CHOICE_QUANTILE)) < 1.0


def calibrate(
    f: np.ndarray, slope: np.ndarray, unit: np.ndarray, theta: float, outside: np.ndarray, others: float = float("nan")
) -> tuple[np.ndarray, float]:
    """(b, λ): each pair's utility slope and the category's λ from its own slopes and cross slope θ,
    or its pull φ on the other purchases (`others`) where estimated; outside: each pair's unit's
    purchases outside the decision (in N0, never offered)."""
    if f.size == 0:
        return np.zeros(0), 1.0
    decided = np.bincount(unit, f)[unit]
    n0 = decided + outside
    room = 1 - np.minimum(n0, MAX_INCIDENCE)
    utility_slope = lambda lam: utility_slopes(f, slope, n0, lam)  # noqa: E731
    q = f * (1 - f)
    lam = 1.0
    for _ in range(ITERATIONS):
        mean_b = float(np.average(utility_slope(lam), weights=f)) if f.sum() > 0 else 0.0
        if np.isfinite(others):  # φ is a regression on q·(T − m_T): it weighs pair i's q_i φ_i = −(1 − κ) g_i by q_i²
            pulled = float(np.mean(q * f * utility_slope(lam) * (decided - f) / np.maximum(n0, 1e-12)))
            kappa = 1 + others * float(np.mean(q * q)) / pulled if pulled > 0 else 1.0
        else:
            kappa = 1 + theta * (1 - np.average(f, weights=f)) / mean_b if mean_b > 0 and theta < 0 else 1.0
        lam = float(np.clip(kappa, KAPPA_FLOOR, 1.0)) / float(np.average(room, weights=f))
    return utility_slope(lam), lam


def utility_slopes(f: np.ndarray, slope: np.ndarray, n0: np.ndarray, lam: float) -> np.ndarray:
    """Each pair's utility slope b from its estimated own logit slope at a given λ (n0: its unit's N0):
    the slopes times the category's one conversion factor (`_conversion`)."""
    share = f / np.maximum(n0, 1e-12)
    room = 1 - np.minimum(n0, MAX_INCIDENCE)  # 1 − N0: how far the unit's incidence can still grow
    return slope * _conversion(f, slope, (1 - f) / np.maximum(1 - share * (1 - lam * room), 1e-6))


def _conversion(f: np.ndarray, slope: np.ndarray, ratio: np.ndarray) -> float:
    """One factor from own logit slopes to utility slopes for the whole category: the one that keeps the
    f·slope-weighted mean own slope at the status quo the estimated one. A pair's slope is its group's
    estimate (elasticity/dml), not its own, so dividing it by the pair's own conversion (`ratio`: large
    for the consumer's main item) would add the shares' spread as if it were the slopes': on the simulator
    the true utility slopes regressed on the converted ones with a coefficient of 0.31, on the estimated
    ones with 0.88 (docs/results.md, Offers that compete)."""
    weight = f * np.maximum(slope, 0.0)
    return float(weight.sum() / (weight / ratio).sum()) if weight.sum() > 0 else float(np.average(ratio, weights=f))


def probabilities(
    option: np.ndarray, u: np.ndarray, n0: np.ndarray, lam: float, outside: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p of every (option, pair) row, p of the purchases outside the decision per option, log S per
    option): u a row's utility, n0 its unit's N0 (rows of an option are its whole unit), outside the
    option's unit's purchases outside the decision (their utility log outside: never offered). At the
    status quo S = N0, so log S − log N0 is how far an option lifts the category's log-sum. A unit whose
    N0 is above MAX_INCIDENCE (not a probability) is held there on the logit scale, and its expected
    purchases are N0 times the held incidence's change from the status quo: p_i = f_i at the status quo
    for every unit, so the plan and the status quo are valued alike (held at 0.99 alone, its every pair
    was valued 0.99 / N0 of its model probability, plan and status quo both)."""
    options = outside.size
    top = np.full(options, -np.inf)
    np.maximum.at(top, option, u)
    top = np.maximum(top, np.log(np.maximum(outside, 1e-300)))
    s = np.bincount(option, np.exp(u - top[option]), minlength=options) + outside * np.exp(-top)  # S / exp(top), overflow-free
    log_s = np.log(s) + top
    held = np.clip(n0, 1e-300, MAX_INCIDENCE)
    incidence = expit(np.log(held) - np.log1p(-held) + lam * (log_s[option] - np.log(held)))
    above = n0 > MAX_INCIDENCE
    if above.any():  # the unit's status quo purchases N0, moved by the held incidence's relative change
        at_status_quo = expit(np.log(held) - np.log1p(-held) + lam * (np.log(np.maximum(n0, 1e-300)) - np.log(held)))
        incidence = np.where(above, incidence * n0 / at_status_quo, incidence)
    unit_incidence = np.zeros(options)
    unit_incidence[option] = incidence  # one value per option: its unit's N(o)
    return np.minimum(1.0, incidence * np.exp(u - log_s[option])), unit_incidence * outside * np.exp(-log_s), log_s


def cross_category_pull(f: np.ndarray, b: np.ndarray, n0: np.ndarray, g_retention: np.ndarray, others_x: float) -> float:
    """δ: the consumer's purchases in their other categories fall by δ · G · (log S(o) − log N0) under
    option o (G: p (1 − p) summed over those categories' pairs, a logit shift's first order), calibrated
    so that at the status quo d/d o_i = −δ G b_i f_i / N0 matches the estimate φ_x f_i (1 − f_i) on
    average. The log-sum is what a store's nested logit moves related categories by (docs/simulator.md):
    it grows faster than linearly in a deep offer on a large share, which a pull linear in the offer
    (bundles._cross_category's φ_x route) understates. NaN where φ_x is not estimated or nothing is pulled."""
    denominator = float(np.mean(g_retention * b * f / np.maximum(n0, 1e-12))) if f.size else 0.0
    if not np.isfinite(others_x) or denominator <= 0:
        return float("nan")
    return -others_x * float(np.mean(f * (1 - f))) / denominator
