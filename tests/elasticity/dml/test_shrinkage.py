"""offerwise.elasticity.dml.shrinkage: τ² and the two-level empirical-Bayes shrinkage."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.elasticity.dml.shrinkage import _shrink, _tau2


def test_shrinkage_pulls_a_small_group_toward_its_category():
    slope = 0.05
    dev = pl.DataFrame({
        "category": ["A"] * 4, "level": ["age"] * 4, "group": ["big1", "big2", "big3", "small"], "n_rows": [5000, 5000, 5000, 120],
        "dev": [0.010, -0.008, -0.004, 0.030], "dev_se": [0.002, 0.002, 0.002, 0.020],
    })  # fmt: skip
    shared = dev.select("level", "group", "n_rows", dev=pl.col("dev") / slope, dev_se=pl.col("dev_se") / slope)
    out, _ = _shrink(dev, shared, {"A": slope})
    row = {r["group"]: r for r in out.iter_rows(named=True)}
    assert abs(row["small"]["dev_shrunk"]) < 0.5 * abs(row["small"]["dev"])  # noisy: pulled most of the way back
    assert abs(row["big1"]["dev_shrunk"]) > 0.8 * abs(row["big1"]["dev"])  # precise: kept
    assert row["small"]["post_sd"] > row["big1"]["post_sd"]


def test_a_category_s_noisy_group_follows_the_groups_shared_pattern():
    """Two categories share a pattern (young +20 %); A's young group is small and noisy (raw −30 %):
    its shrunk deviation is pulled toward A's share of the shared effect, not kept, not zeroed."""
    slopes = {"A": 0.05, "B": 0.02}
    dev = pl.DataFrame({
        "category": ["A", "A", "B", "B"], "level": ["age"] * 4, "group": ["young", "old", "young", "old"], "n_rows": [150, 5000, 5000, 5000],
        "dev": [-0.3 * 0.05, -0.2 * 0.05, 0.2 * 0.02, -0.2 * 0.02], "dev_se": [0.02, 0.001, 0.0005, 0.0005],
    })  # fmt: skip
    shared = pl.DataFrame(
        {"level": ["age", "age"], "group": ["young", "old"], "n_rows": [5150, 10000], "dev": [0.2, -0.2], "dev_se": [0.02, 0.02]}
    )
    out, shared_out = _shrink(dev, shared, slopes)
    young_a = out.filter((pl.col("category") == "A") & (pl.col("group") == "young")).row(0, named=True)
    assert shared_out.filter(pl.col("group") == "young").get_column("rel").item() > 0.15
    mu, raw = 0.2 * 0.05, -0.3 * 0.05
    assert abs(young_a["dev_shrunk"] - mu) < abs(young_a["dev_shrunk"] - raw)  # nearer A's share of +20 % than its raw −30 %
    assert young_a["dev_shrunk"] > 0


def test_tau2_method_of_moments_recovers_the_spread():
    rng = np.random.default_rng(0)
    se = rng.uniform(0.5, 1.5, 4000)
    est = rng.normal(0, 2.0, 4000) + rng.normal(0, se)
    assert _tau2(est, se) == pytest.approx(4.0, rel=0.1)
    assert _tau2(rng.normal(0, se), se) < 0.1  # no spread beyond the noise: ~0, floored
