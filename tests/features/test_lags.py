from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from offerwise.features.lags import rolling_stats


@pytest.mark.parametrize("window", [2, 3, 4, 8])
def test_rolling_stats_match_numpy_and_scipy(window: int) -> None:
    x = np.random.default_rng(window).poisson(2.0, (6, 14)).astype(float)
    stats = rolling_stats(x, window)
    for t in range(1, 14):
        past = x[:, max(t - window, 0) : t]
        np.testing.assert_allclose(stats["mean"][:, t], past.mean(axis=1), rtol=1e-5)
        np.testing.assert_allclose(stats["median"][:, t], np.median(past, axis=1), rtol=1e-5)
        if past.shape[1] > 1:
            np.testing.assert_allclose(stats["var"][:, t], past.var(axis=1, ddof=1), rtol=1e-4, atol=1e-5)
            flat = past.std(axis=1) == 0
            np.testing.assert_allclose(stats["skew"][~flat, t], st.skew(past[~flat], axis=1), rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(stats["kurt"][~flat, t], st.kurtosis(past[~flat], axis=1), rtol=1e-3, atol=1e-4)
    assert np.isnan(stats["mean"][:, 0]).all()


def test_current_period_never_enters_its_own_lag() -> None:
    x = np.zeros((1, 6))
    x[0, 3] = 1.0
    stats = rolling_stats(x, 2)
    assert stats["mean"][0, 3] == 0.0 and stats["mean"][0, 4] == 0.5
