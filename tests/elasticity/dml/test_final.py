"""offerwise.elasticity.dml.final: the final stage's solver and the logistic stage's fallback."""

from __future__ import annotations

import numpy as np

from offerwise.elasticity.dml.final import _cluster_fit, _Final, _keep_well_posed


def test_the_logistic_score_with_the_regressor_as_instrument_is_the_logistic_regression():
    """With instrument = regressor and no offset the logistic final stage solves the likelihood
    equations: the same coefficients as Newton's method on the log-likelihood."""
    rng = np.random.default_rng(3)
    n = 20_000
    x, group = rng.uniform(0, 40, n), rng.integers(0, 2, n)
    D = np.column_stack([np.ones(n), np.where(group == 1, 1.0, -1.0)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + (D @ np.array([0.04, 0.01])) * x)))).astype(float)
    final = _Final(True, y, x, x, np.full(n, -2.0))
    beta, V = _cluster_fit(D, final, np.arange(n))
    Z = D * x[:, None]
    ref = np.zeros(2)
    for _ in range(30):
        p = 1 / (1 + np.exp(-(Z @ ref - 2.0)))
        ref += np.linalg.solve(Z.T @ (Z * (p * (1 - p))[:, None]), Z.T @ (y - p))
    np.testing.assert_allclose(beta, ref, rtol=1e-6)
    assert np.all(np.diag(V) > 0) and abs(beta[0] - 0.04) < 4 * np.sqrt(V[0, 0])


def test_an_ill_posed_logistic_stage_keeps_the_linear_result():
    linear = (
        (0.03, 0.002),
        {"A": (0.04, 0.003), "B": (0.02, 0.004)},
        [{"category": "A", "dev": 0.001}, {"category": "B", "dev": 0.002}],
        None,
    )
    logistic = (
        (0.035, 0.002),
        {"A": (0.045, 0.003), "B": (-0.1, 4000.0)},
        [{"category": "A", "dev": 0.0}, {"category": "B", "dev": 9.0}],
        None,
    )
    pooled, slopes, devs, _, failed = _keep_well_posed(logistic, linear)
    assert failed == {"B"} and slopes == {"A": (0.045, 0.003), "B": (0.02, 0.004)} and pooled == (0.035, 0.002)
    assert sorted(d["dev"] for d in devs) == [0.0, 0.002]
