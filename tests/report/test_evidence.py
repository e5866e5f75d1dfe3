"""The evidence sections (offerwise.report.evidence): model differences, the offer response's summary line."""

from __future__ import annotations

import polars as pl

from offerwise import io
from offerwise.report.evidence import cross_sections, differences_section, response_sections


def _differences(diff: pl.DataFrame) -> pl.DataFrame:
    return differences_section(diff)[0].content


def _rows(fold: int | None, estimate: float) -> list[dict]:
    return [
        {"fold": fold, "category": "Bakery", "metric": m, "model_a": "stack", "model_b": "lightgbm", "rows": 100,
         "estimate": estimate, "low": estimate - 0.001, "high": estimate + 0.001, "verdict": "a better"}
        for m in ("bce", "roc_auc", "f1")
    ]  # fmt: skip


def test_several_folds_show_the_rows_over_all_folds(tmp_path) -> None:
    diff = pl.DataFrame(_rows(0, 0.01) + _rows(1, 0.02) + _rows(None, 0.015), schema_overrides={"fold": pl.Int32})
    io.write_csv(diff, tmp_path / "model_differences.csv")
    table = _differences(io.read_csv(tmp_path / "model_differences.csv", rerun="test"))
    assert table.height == 1 and table.get_column("bce").item().startswith("0.015 ")


def test_one_fold_shows_that_fold(tmp_path) -> None:
    io.write_csv(pl.DataFrame(_rows(0, 0.01), schema_overrides={"fold": pl.Int32}), tmp_path / "model_differences.csv")
    assert _differences(io.read_csv(tmp_path / "model_differences.csv", rerun="test")).get_column("bce").item().startswith("0.01 ")


def test_the_response_line_counts_identified_categories_and_placebos_covering_zero() -> None:
    response = pl.DataFrame({"category": ["A", "B", "C"], "slope": [0.02, 0.01, 0.015], "low": [0.01, -0.01, 0.0], "high": [0.03, 0.03, 0.03],
                             "identified": [True, False, True], "offer_reliability": [0.9, 0.3, 0.8], "method": ["dml"] * 3, "n_rows": [10, 10, 10]})  # fmt: skip
    placebo = pl.DataFrame(
        {"category": ["A", "B", "C"], "slope": [0.0] * 3, "low": [-0.01] * 3, "high": [0.01] * 3, "covers_zero": [True, True, False]}
    )
    (section,) = response_sections(response, placebo)
    assert section.folded and "2 of 3 identified" in section.summary and "covers 0 in 2 of 3" in section.summary
    assert "Not identified here: B." in section.note and "placebo_covers_zero" in section.content.columns


def test_the_cross_effects_show_each_category_s_pull_on_other_categories_with_its_interval() -> None:
    cross = pl.DataFrame(
        {
            "category": ["A", "pooled"],
            "cross_slope": [-0.02, -0.01],
            "se": [0.01, 0.005],
            "low": [-0.02 - 1.645 * 0.01, -0.01 - 1.645 * 0.005],
            "high": [-0.02 + 1.645 * 0.01, -0.01 + 1.645 * 0.005],
            "identified": [True, True],
            "rows_with_other_offers": [100, 100],
            "method": ["dml", "dml, pooled"],
            "others_x_slope": [-0.03, -0.01],
            "others_x_se": [0.01, 0.004],
        }
    )
    (section,) = cross_sections(cross, None)
    assert "combined" not in section.summary  # an earlier table without combined_z
    (section,) = cross_sections(
        pl.concat([cross, cross.tail(1).with_columns(category=pl.lit("cross-category"))]).with_columns(
            combined_z=pl.when(pl.col("category") == "cross-category").then(-2.5)
        ),
        None,
    )
    assert "z = -2.50" in section.summary
    row = section.content.filter(pl.col("category") == "A").row(0, named=True)
    assert row["pull_on_other_categories"] == -0.03
    assert abs(row["pull_low"] - (-0.03 - 1.645 * 0.01)) < 1e-9 and abs(row["pull_high"] - (-0.03 + 1.645 * 0.01)) < 1e-9
