"""The elasticity stage's join of the cross effects onto the decision's pairs (offerwise.elasticity.stage)."""

from __future__ import annotations

import polars as pl
import pytest

from offerwise.elasticity.dml.cross import CROSS_CATEGORY, POOLED
from offerwise.elasticity.stage import with_cross_slopes

PAIRS = pl.DataFrame({"customer_id": [1, 1, 2], "item_id": [10, 20, 30], "category": ["A", "B", "C"]})


def cross_table(pooled_x: float, pooled_x_se: float, combined_z: float | None = None) -> pl.DataFrame:
    """A cross table with per-category φ_x for A and B (C not in the table), with the cross-category
    row's combined_z where given."""
    rows = [("A", -0.03, 0.01), ("B", -0.002, 0.01), (POOLED, pooled_x, pooled_x_se), (CROSS_CATEGORY, pooled_x, pooled_x_se)]
    table = pl.DataFrame(
        {
            "category": [r[0] for r in rows],
            "cross_slope": [-0.02] * 4,
            "high": [-0.01] * 4,
            "others_slope": [-0.01, -0.01, -0.01, pooled_x],
            "others_se": [0.001, 0.001, 0.001, pooled_x_se],
            "others_x_slope": [r[1] for r in rows],
            "others_x_se": [r[2] for r in rows],
        }
    )
    return table if combined_z is None else table.with_columns(combined_z=pl.Series([None, None, None, combined_z], dtype=pl.Float64))


def pulls(table: pl.DataFrame) -> dict[str, float]:
    out = with_cross_slopes(PAIRS, table)
    return dict(zip(out.get_column("category"), out.get_column("cross_category_others"), strict=True))


def test_each_category_takes_its_own_pull_where_the_pooled_pull_is_found() -> None:
    assert pulls(cross_table(-0.01, 0.002)) == pytest.approx({"A": -0.03, "B": -0.002, "C": -0.01})


def test_no_category_is_pulled_where_the_pooled_pull_is_not_found() -> None:
    assert pulls(cross_table(-0.003, 0.002)) == {"A": 0.0, "B": 0.0, "C": 0.0}


def test_a_table_without_per_category_pulls_gives_every_category_the_pooled_one() -> None:
    old = cross_table(-0.01, 0.002).drop("others_x_slope", "others_x_se")
    assert pulls(old) == pytest.approx({"A": -0.01, "B": -0.01, "C": -0.01})


def test_the_combined_evidence_decides_where_the_table_has_it() -> None:
    """φ_x alone not found (z = −1.5) but with θ_x's evidence found (−2.0): counted; φ_x alone found
    (z = −5) but the combined evidence not (θ_x of the opposite sign): not counted."""
    assert pulls(cross_table(-0.003, 0.002, combined_z=-2.0)) == pytest.approx({"A": -0.03, "B": -0.002, "C": -0.003})
    assert pulls(cross_table(-0.01, 0.002, combined_z=-1.0)) == {"A": 0.0, "B": 0.0, "C": 0.0}


def test_each_counted_pull_carries_its_se_and_an_uncounted_one_none() -> None:
    def ses(table: pl.DataFrame) -> dict[str, float]:
        out = with_cross_slopes(PAIRS, table)
        return dict(zip(out.get_column("category"), out.get_column("cross_category_others_se"), strict=True))

    assert ses(cross_table(-0.01, 0.002)) == pytest.approx({"A": 0.01, "B": 0.01, "C": 0.002})  # C: the pooled row's
    assert ses(cross_table(-0.003, 0.002)) == {"A": 0.0, "B": 0.0, "C": 0.0}
