from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.report.uplift import uplift_deciles, uplift_figure


def _frames(n: int = 10000, bias: float = 0.0, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs whose realised purchases follow p at the status quo, except that the model overstates
    that p by `bias` x (its predicted uplift rank): wrong exactly where it expects the largest uplift."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, n)
    uplift = rng.uniform(0.0, 0.2, n)
    rank = uplift.argsort().argsort() / n
    offers = pl.DataFrame({
        "customer_id": np.arange(n), "item_id": np.arange(n) % 7, "category": np.where(np.arange(n) % 2 == 0, "A", "B"),
        "reference_offer_pct": 10.0, "recommended_offer_pct": 30.0, "probability": p + bias * rank,
        "predicted_probability": p + bias * rank + uplift,
    })  # fmt: skip
    labels = pl.DataFrame({"customer_id": np.arange(n), "item_id": np.arange(n) % 7, "label": (rng.random(n) < p).astype(np.int8)})
    return offers, labels


def test_ten_deciles_per_category_and_pooled() -> None:
    table = uplift_deciles(*_frames())
    assert table.columns == [
        "category", "decile", "rows", "predicted_uplift", "p_status_quo", "p_recommended", "realised_rate", "status_quo_offer_pct",
        "recommended_offer_pct",
    ]  # fmt: skip
    assert table.get_column("category").unique(maintain_order=True).to_list() == ["all", "A", "B"]
    for (_,), g in table.group_by("category"):
        assert g.get_column("decile").to_list() == list(range(1, 11))
        assert (g.get_column("predicted_uplift").diff().drop_nulls() > 0).all()
    assert table.filter(pl.col("category") == "all").get_column("rows").sum() == 10000


def test_a_base_model_wrong_where_uplift_is_high_shows_as_a_growing_gap() -> None:
    fine = uplift_deciles(*_frames()).filter(pl.col("category") == "all")
    off = uplift_deciles(*_frames(bias=0.2)).filter(pl.col("category") == "all")
    gap = lambda t: (t.get_column("p_status_quo") - t.get_column("realised_rate")).to_numpy()  # noqa: E731
    assert np.abs(gap(fine)).max() < 0.06  # calibrated: realised ~ predicted at the status quo in every decile
    assert gap(off)[-1] > 0.15 and gap(off)[0] < 0.06  # overstated in the top deciles only


def test_pairs_without_a_label_are_left_out_and_labels_are_checked() -> None:
    offers, labels = _frames(n=200)
    half = labels.with_columns(label=pl.when(pl.col("customer_id") < 100).then(pl.col("label")).otherwise(None))
    assert uplift_deciles(offers, half).filter(pl.col("category") == "all").get_column("rows").sum() == 100
    assert_frame_equal(uplift_deciles(offers, labels), uplift_deciles(offers, labels.reverse()))
    with pytest.raises(ValueError, match="labels"):
        uplift_deciles(offers, labels.drop("label"))


def test_figure_is_a_png() -> None:
    assert uplift_figure(uplift_deciles(*_frames(n=300))).startswith(b"\x89PNG\r\n\x1a\n")
