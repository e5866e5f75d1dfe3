from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offerwise.thresholds.f1 import best_threshold, expected_f1_curve, expected_f1_top_k, expected_f1_top_ks


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp, k, b = (pred & (y == 1)).sum(), pred.sum(), y.sum()
    return 2 * tp / (k + b) if k + b else 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=25))
def test_threshold_search_matches_brute_force(rows) -> None:
    p = np.array([r[0] / 20 for r in rows])  # coarse values: many ties
    y = np.array([int(r[1]) for r in rows])
    threshold, f1 = best_threshold(p, y)
    if y.sum() == 0:
        assert f1 == 0.0
        return
    brute = max(_f1(p >= c, y) for c in np.unique(p))
    assert f1 == pytest.approx(brute)
    assert _f1(p >= threshold, y) == pytest.approx(f1)


def test_threshold_by_hand() -> None:
    p = np.array([0.9, 0.8, 0.3, 0.2])
    y = np.array([1, 0, 1, 0])
    assert best_threshold(p, y) == (pytest.approx(0.3), pytest.approx(2 * 2 / (3 + 2)))


@pytest.mark.parametrize("seed", range(6))
def test_expected_f1_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.sort(rng.random(7) ** 2)[::-1]
    outcomes = np.array(list(itertools.product([0, 1], repeat=p.size)))
    weights = np.prod(np.where(outcomes == 1, p, 1 - p), axis=1)
    curve = expected_f1_curve(p)
    for k in range(p.size + 1):
        pred = np.arange(p.size) < k
        expected = sum(w * _f1(pred, y) for w, y in zip(weights, outcomes))
        assert curve[k] == pytest.approx(expected)
    # The best top-k set is the best of *all* 2^n subsets (independence makes top-k optimal).
    best_any = max(
        sum(w * _f1(np.array(s, dtype=bool), y) for w, y in zip(weights, outcomes)) for s in itertools.product([0, 1], repeat=p.size)
    )
    assert expected_f1_top_k(p)[1] == pytest.approx(best_any)


@pytest.mark.parametrize("n", [1, 2, 9, 60])
def test_expected_f1_curve_is_the_same_for_every_k_at_once_and_one_k_at_a_time(n: int, monkeypatch) -> None:
    """Up to VECTORISED_ITEMS the curve is one product over every k; beyond, a loop over k (checked by enumeration above)."""
    import offerwise.thresholds.f1 as f1

    p = np.sort(np.random.default_rng(n).random(n) ** 2)[::-1]
    at_once = expected_f1_curve(p)
    monkeypatch.setattr(f1, "VECTORISED_ITEMS", -1)
    np.testing.assert_allclose(at_once, expected_f1_curve(p), rtol=0, atol=1e-12)


def test_expected_f1_top_ks_chooses_as_each_group_alone() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.choice([1, 2, 3, 7, 61, 305], size=40)  # both curve routes, and a group past MAX_EXACT_ITEMS
    groups = [np.sort(rng.beta(0.6, 2.5, size=n))[::-1] for n in sizes]
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    ks = expected_f1_top_ks(np.concatenate(groups), starts)
    assert ks.tolist() == [expected_f1_top_k(g)[0] for g in groups]
