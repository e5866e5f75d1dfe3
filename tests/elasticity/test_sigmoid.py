from __future__ import annotations

import numpy as np
import pytest

from offerwise.elasticity.curves import at_offer, pair_slopes
from offerwise.elasticity.sigmoid import elasticity, fit_sigmoid, sigmoid


def test_recovers_known_parameters_noiseless() -> None:
    x = np.arange(0, 61, 5.0)
    fit = fit_sigmoid(x, sigmoid(x, 0.04, -2.0))
    assert (fit.a, fit.b, fit.r2) == (pytest.approx(0.04, rel=1e-6), pytest.approx(-2.0, rel=1e-6), pytest.approx(1.0))


def test_recovers_known_parameters_from_noisy_bernoulli_means() -> None:
    rng = np.random.default_rng(0)
    x = rng.choice(np.arange(0, 61, 5.0), 200_000)
    y = rng.random(x.size) < sigmoid(x, 0.05, -2.5)
    xs = np.unique(x)
    means = np.array([y[x == v].mean() for v in xs])
    counts = np.array([(x == v).sum() for v in xs])
    fit = fit_sigmoid(xs, means, counts, n=x.size)
    assert fit.a == pytest.approx(0.05, rel=0.05) and fit.b == pytest.approx(-2.5, rel=0.05)
    assert fit.n == 200_000


def test_constant_offers_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="two or more distinct"):
        fit_sigmoid(np.full(5, 10.0), np.full(5, 0.2))


def test_elasticity_equation_12() -> None:
    # a k (1 - f(k)) equals f'(k) k / f(k) for the sigmoid.
    a, b, k = 0.04, -2.0, 20.0
    f = sigmoid(np.array(k), a, b)
    derivative = a * f * (1 - f)
    assert elasticity(a, k, f) == pytest.approx(derivative * k / f)


def test_pair_slopes_and_interpolation_on_exact_logistic_curves() -> None:
    grid = np.arange(0, 61, 5.0)
    curves = np.stack([sigmoid(grid, a, -2.0) for a in (0.01, 0.05)])
    np.testing.assert_allclose(pair_slopes(curves, grid), [0.01, 0.05], rtol=1e-4)
    np.testing.assert_allclose(at_offer(curves, grid, np.array([10.0, 12.5])), [curves[0, 2], (curves[1, 2] + curves[1, 3]) / 2])
