from __future__ import annotations

import numpy as np

from offerwise.features import history as h

NAN = np.nan
EVENTS = np.array([[0, 1, 0, 1, 1, 0]], dtype=bool)


def test_counts_and_time_since() -> None:
    np.testing.assert_array_equal(h.count_before(EVENTS), [[0, 0, 1, 1, 2, 3]])
    np.testing.assert_array_equal(h.periods_since(h.last_before(EVENTS)), [[NAN, NAN, 1, 2, 1, 1]])
    np.testing.assert_array_equal(h.periods_since(h.first_before(EVENTS)), [[NAN, NAN, 1, 2, 3, 4]])


def test_gaps_streak_and_rates() -> None:
    gap_mean, gap_last = h.gaps(EVENTS)
    np.testing.assert_array_equal(gap_last, [[NAN, NAN, NAN, NAN, 2, 1]])
    np.testing.assert_allclose(gap_mean, [[NAN, NAN, NAN, NAN, 2, 1.5]])
    np.testing.assert_array_equal(h.streak_before(EVENTS), [[0, 0, 1, 0, 1, 2]])
    reorder, frequency = h.rates(EVENTS)
    np.testing.assert_allclose(reorder, [[0, 0, 0, 0, 1 / 3, 2 / 4]])
    np.testing.assert_allclose(frequency, [[0, 0, 1 / 2, 1 / 3, 2 / 4, 3 / 5]])


def test_expanding_mean_uses_only_the_past() -> None:
    values = np.array([[10.0, 20.0, NAN, 40.0]])
    weights = np.array([[1.0, 1.0, 0.0, 2.0]])
    np.testing.assert_allclose(h.expanding_mean(values, weights), [[NAN, 10, 15, 15]])
