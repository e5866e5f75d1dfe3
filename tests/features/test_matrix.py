"""The feature matrices' totals (offerwise.features.matrix)."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.features.matrix import group_sums


def test_group_sums_are_the_same_whatever_the_other_groups_rows_and_the_threads() -> None:
    """Floats whose sum depends on the order (1e16, 1, −1e16, 0.1): a group's sum depends only on its
    own rows in their order, not on how other groups' rows interleave or on polars' threads."""
    rng = np.random.default_rng(0)
    n = 30_000
    frame = pl.DataFrame({
        "g": rng.integers(0, 50, n), "h": rng.integers(0, 3, n), "x": rng.choice([1e16, 1.0, -1e16, 0.1], n), "k": rng.integers(0, 5, n),
    })  # fmt: skip
    got = group_sums(frame, ["g", "h"], x=pl.col("x"), k=pl.col("k"))
    assert got.select("g", "h").equals(frame.select("g", "h").unique().sort("g", "h"))
    regrouped = frame.sort("g", descending=True, maintain_order=True)  # each group's rows keep their order
    assert all(group_sums(regrouped, ["g", "h"], x=pl.col("x"), k=pl.col("k")).equals(got) for _ in range(5))
    exact = frame.group_by("g", "h").agg(pl.col("k").sum()).sort("g", "h")
    assert got.get_column("k").to_list() == exact.get_column("k").to_list()  # whole numbers stay whole
    magnitude = frame.group_by("g", "h").agg(pl.col("x").abs().sum()).sort("g", "h").get_column("x").to_numpy()
    loose = frame.group_by("g", "h").agg(pl.col("x").sum()).sort("g", "h").get_column("x").to_numpy()
    assert (np.abs(got.get_column("x").to_numpy() - loose) <= 1e-12 * magnitude + 4).all()  # the same sums, up to rounding
    assert group_sums(frame.head(0), ["g", "h"], x=pl.col("x")).height == 0
