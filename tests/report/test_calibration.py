from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.report.calibration import reliability_figure, reliability_table

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(1)
    parts, truth = [], []
    for k, category in enumerate(("Bakery", "Dairy", "Produce")):
        n = 1500
        customers, items = np.arange(n) // 10, np.arange(n) % 10 + 100 * k
        true_p = rng.beta(1.2, 8, n)
        label = (rng.random(n) < true_p).astype(np.int8)
        for split in ("validation", "test"):
            parts.append(pl.DataFrame({
                "customer_id": customers, "item_id": items, "category": category, "period": 7, "split": split, "model": "stack",
                "probability": np.clip(true_p * 1.3 + rng.normal(0, 0.02, n), 0.001, 0.999), "label": label, "fold": 0,
            }))  # fmt: skip
        truth.append(pl.DataFrame({"customer_id": customers, "item_id": items, "true_probability": true_p}))
    return pl.concat(parts), pl.concat(truth)


def test_table_has_ten_deciles(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    predictions, truth = frames
    table = reliability_table(predictions, "stack")
    assert table.columns == ["category", "decile", "mean_predicted", "realised_rate", "rows"]
    for (_,), g in table.group_by("category"):
        assert g.get_column("decile").to_list() == list(range(1, 11))
        assert (g.get_column("rows") == 150).all()
        assert (g.get_column("mean_predicted").diff().drop_nulls() > 0).all()
    assert table.get_column("rows").sum() == 4500  # test rows only
    with_truth = reliability_table(predictions, "stack", truth=truth)
    assert "mean_true" in with_truth.columns and with_truth.get_column("mean_true").null_count() == 0
    # Over-predicted by 1.3x: the top decile's prediction sits above its true mean.
    top = with_truth.filter(pl.col("decile") == 10)
    assert (top["mean_predicted"] > top["mean_true"]).all()


def test_figure_is_a_png(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    predictions, truth = frames
    for png in (reliability_figure(predictions), reliability_figure(predictions, model="stack", truth=truth)):
        assert png.startswith(PNG) and len(png) > 5_000


def test_errors(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    predictions, truth = frames
    with pytest.raises(ValueError, match="model"):
        reliability_table(predictions, "tcn")
    with pytest.raises(ValueError, match="truth"):
        reliability_table(predictions, "stack", truth=pl.concat([truth, truth]))
