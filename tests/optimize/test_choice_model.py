"""The nested logit a consumer-category's bundle is valued with (offerwise.optimize.choice_model)."""

from __future__ import annotations

import numpy as np
import pytest

from offerwise.optimize.choice_model import calibrate, probabilities

F = np.array([0.10, 0.05, 0.02])  # one consumer-category: status quo probabilities
SLOPE = np.array([0.04, 0.05, 0.03])  # estimated own logit slopes per offer point
UNIT = np.zeros(3, dtype=int)
NONE = np.zeros(3)  # no purchases outside the decision


def _p(b: np.ndarray, lam: float, offers: np.ndarray) -> np.ndarray:
    u = np.log(F) + b * offers  # status quo offers 0
    return probabilities(np.zeros(3, dtype=int), u, np.full(3, F.sum()), lam, np.zeros(1))[0]


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_the_status_quo_is_the_models_probabilities_and_an_offer_takes_from_the_other_items():
    b, lam = calibrate(F, SLOPE, UNIT, -0.02, NONE)
    assert 0 < lam < 1
    np.testing.assert_allclose(_p(b, lam, np.zeros(3)), F)
    offered = _p(b, lam, np.array([30.0, 0.0, 0.0]))
    assert offered[0] > F[0] and np.all(offered[1:] < F[1:])
    assert offered.sum() > F.sum()  # the category grows a little
    assert offered.sum() - F.sum() < offered[0] - F[0]  # part of the offered item's gain is the other items' loss


@pytest.mark.parametrize("theta", [-0.03, -0.01, 0.0])
def test_the_calibration_reproduces_the_estimated_own_and_cross_slopes_at_the_status_quo(theta):
    """One conversion factor for the category (choice_model._conversion): the utility slopes are the
    estimated slopes times one number, and the f·slope-weighted mean own slope at the status quo is the
    estimate's; each pair's own slope is within the spread of the conversions."""
    b, lam = calibrate(F, SLOPE, UNIT, theta, NONE)
    np.testing.assert_allclose(b / SLOPE, (b / SLOPE)[0])
    h = 1e-4
    own = np.zeros(3)
    for i in range(3):
        step = np.zeros(3)
        step[i] = h
        change = (_logit(_p(b, lam, step)) - _logit(F)) / h
        own[i] = change[i]
        assert change[i] == pytest.approx(SLOPE[i], rel=0.2)  # a large share (item 0) converts with more, a small one less
        if theta < 0:
            share = F[i] / F.sum()
            others = np.delete(np.arange(3), i)
            expected = theta * share  # θ · w_j: λ is fitted to the category's mean slope, so each pair's within a factor
            assert np.all(change[others] < 0) and np.all((change[others] / expected > 0.4) & (change[others] / expected < 1.6))
    weight = F * SLOPE
    assert (weight * own / SLOPE).sum() / weight.sum() == pytest.approx(1.0, rel=1e-3)  # (f · slope)-weighted ratio: exact


def test_a_consumer_who_already_buys_the_category_often_gains_less_category_from_an_offer():
    """The incidence moves on the logit scale: with N0 = 0.9 the same offer grows the category far less
    than with N0 = 0.1 (a log-linear N would grow both alike and pass 1)."""
    grown = {}
    for n0 in (0.1, 0.9):
        u_status_quo = np.log(np.array([0.5, 0.5]) * n0)  # f_i: the model's probabilities, summing to N0
        offered = u_status_quo + np.array([1.5, 0.0])
        before = probabilities(np.zeros(2, dtype=int), u_status_quo, np.full(2, n0), 0.5, np.zeros(1))[0].sum()
        after = probabilities(np.zeros(2, dtype=int), offered, np.full(2, n0), 0.5, np.zeros(1))[0].sum()
        assert before == pytest.approx(n0) and after < 1
        grown[n0] = np.log(after / before)
    assert grown[0.9] < 0.25 * grown[0.1]


def test_a_consumer_who_buys_the_category_more_than_once_a_fortnight_keeps_the_models_probabilities_at_the_status_quo():
    """N0 = 1.3 is no incidence probability: the incidence is held at MAX_INCIDENCE, and the unit's
    purchases move by its relative change, so the status quo is the model's own probabilities (held
    alone, every pair was 0.99 / 1.3 of them, plan and status quo alike) and an offer moves share."""
    f, outside = np.array([0.6, 0.3, 0.2]), 0.2
    n0 = np.full(3, f.sum() + outside)
    b, lam = calibrate(f, SLOPE, UNIT, -0.02, np.full(3, outside))
    at = lambda offers: probabilities(np.zeros(3, dtype=int), np.log(f) + b * offers, n0, lam, np.array([outside]))  # noqa: E731
    p, p_outside, _ = at(np.zeros(3))
    np.testing.assert_allclose(p, f)
    assert p_outside[0] == pytest.approx(outside)
    offered, offered_outside, _ = at(np.array([0.0, 30.0, 0.0]))
    assert offered[1] > f[1] and offered[0] < f[0] and offered[2] < f[2] and offered_outside[0] < outside
    assert 0 < offered.sum() + offered_outside[0] - n0[0] < offered[1] - f[1]  # the category grows less than the offered item


def test_purchases_outside_the_decision_keep_their_mass_at_the_status_quo_and_lose_share_to_an_offer():
    outside = 0.2  # the consumer's purchases of the category's other items a fortnight
    b, lam = calibrate(F, SLOPE, UNIT, -0.02, np.full(3, outside))
    n0 = np.full(3, F.sum() + outside)
    at = lambda offers: probabilities(np.zeros(3, dtype=int), np.log(F) + b * offers, n0, lam, np.array([outside]))  # noqa: E731
    p, p_outside, log_s = at(np.zeros(3))
    np.testing.assert_allclose(p, F)
    assert log_s[0] == pytest.approx(np.log(n0[0]))  # S = N0 at the status quo
    assert p_outside[0] == pytest.approx(outside)
    offered, offered_outside, _ = at(np.array([30.0, 0.0, 0.0]))
    assert offered[0] > F[0] and offered_outside[0] < outside  # the offer takes from what the decision does not hold too
    h = 1e-4
    own = (_logit(at(np.array([h, 0.0, 0.0]))[0][0]) - _logit(F[0])) / h
    assert own == pytest.approx(SLOPE[0], rel=0.15)  # about the estimated own slope at the status quo (one conversion per category)


def test_a_pull_that_would_leave_no_category_growth_keeps_the_utility_slopes_finite():
    """A consumer with one item of the category and nothing else: an estimated pull so strong that κ
    would fall to 0 (every uplift taken from other purchases) is held at the floor, so the offer still
    moves that consumer, with finite probabilities."""
    f = np.array([0.10, 0.05, 0.02, 0.20])
    slope = np.array([0.04, 0.05, 0.03, 0.04])
    unit = np.array([0, 0, 0, 1])  # unit 1: one item, no purchases outside the decision
    b, lam = calibrate(f, slope, unit, -0.02, np.zeros(4), others=-1.0)
    assert np.all(np.isfinite(b)) and lam > 0
    p, _, _ = probabilities(unit, np.log(f) + b * np.array([0.0, 0.0, 0.0, 30.0]), np.array([0.17, 0.17, 0.17, 0.2]), lam, np.zeros(2))
    assert np.all(np.isfinite(p)) and p[3] > f[3]


def test_the_pull_calibration_recovers_the_category_expansion_a_regression_on_q_times_the_offer_would_measure():
    """Consumer-categories of 2-6 items drawn from a nested logit with λ = 0.5: each pair's true pull on
    its unit's other purchases, dO_i/do_i, and own slope by finite differences; φ as the double-ML
    regression of O on q·(T − m_T) measures it (Σ q d / Σ q², one residual offer variance). The
    calibration weighs the pairs as that regression does, so it gets λ back (with equal weights: 0.63)."""
    rng = np.random.default_rng(0)
    lam_true, b0, h = 0.5, 0.03, 1e-3
    parts = [rng.dirichlet(np.full(m, 0.7)) * rng.uniform(0.1, 0.7) for m in rng.integers(2, 7, 300)]
    f, unit = np.concatenate(parts), np.repeat(np.arange(len(parts)), [p.size for p in parts])
    n0 = np.bincount(unit, f)[unit]
    pull, slope = np.zeros(f.size), np.zeros(f.size)
    for i in range(f.size):
        members = np.flatnonzero(unit == unit[i])
        offered = members == i
        at = lambda o: probabilities(
            np.zeros(members.size, int), np.log(f[members]) + b0 * o * offered, n0[members], lam_true, np.zeros(1)
        )[0]  # noqa: E731
        before, after = at(0.0), at(h)
        pull[i] = (after[~offered].sum() - before[~offered].sum()) / h
        slope[i] = (_logit(after[offered]) - _logit(before[offered]))[0] / h
    q = f * (1 - f)
    phi = float((q * pull).sum() / (q * q).sum())
    _, lam = calibrate(f, slope, unit, float("nan"), np.zeros(f.size), others=phi)
    assert lam == pytest.approx(lam_true, abs=0.02)
