"""The report's table of model differences (offerwise.report.build._differences)."""

from __future__ import annotations

import polars as pl

from offerwise import io
from offerwise.report.build import _differences


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
