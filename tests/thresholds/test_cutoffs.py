from __future__ import annotations

import polars as pl
import pytest

from offerwise.thresholds.cutoffs import apply_cutoffs, f1_table, fit_thresholds


def _preds(split: str, rows: list[tuple[int, int, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "category": "A",
            "period": 1 if split == "validation" else 2, "split": split, "model": "m",
            "probability": [r[2] for r in rows], "label": [r[3] for r in rows],
        }
    )  # fmt: skip


VALIDATION = _preds("validation", [(1, 1, 0.9, 1), (1, 2, 0.6, 0), (1, 3, 0.4, 1), (2, 1, 0.5, 0), (2, 2, 0.3, 0)])
TEST = _preds("test", [(1, 1, 0.8, 1), (1, 2, 0.5, 1), (1, 3, 0.3, 0), (2, 1, 0.7, 1), (2, 2, 0.2, 0)])


def test_consumer_cutoffs_with_category_fallback() -> None:
    t = fit_thresholds(VALIDATION).sort("customer_id")
    assert t.get_column("rule").to_list() == ["consumer", "category_fallback"]
    assert t.get_column("threshold").to_list()[0] == pytest.approx(0.4)  # F1 0.8 beats 0.9 alone (0.67)
    # Category-wide on validation: p >= 0.9 and p >= 0.4 tie at F1 2/3; the stricter cut-off wins.
    assert t.get_column("threshold").to_list()[1] == pytest.approx(0.9)


def test_rules_on_test_and_the_oracle_is_labelled() -> None:
    recency = pl.DataFrame({"customer_id": [1, 1, 1, 2, 2], "item_id": [1, 2, 3, 1, 2], "periods_since_last": [1, 5, 2, 9, 1]})
    _, decisions = apply_cutoffs(pl.concat([VALIDATION, TEST]), recency)
    table = f1_table(decisions)
    row = lambda rule: table.filter(pl.col("rule") == rule).row(0, named=True)  # noqa: E731
    # consumer_cutoff: customer 1 at 0.4 predicts items 1, 2 (both bought); customer 2 at 0.9 nothing.
    assert row("consumer_cutoff")["f1"] == pytest.approx(2 * 2 / (2 + 3))
    assert row("oracle_test")["f1"] == pytest.approx(1.0)
    assert row("recent_purchase")["precision"] == pytest.approx(1 / 3)
    assert row("oracle_test")["honest"] is False and row("consumer_cutoff")["honest"] is True
    assert set(table.get_column("rule")) == {"consumer_cutoff", "category_cutoff", "expected_f1", "recent_purchase", "oracle_test"}


def test_vectorised_cutoffs_equal_the_scalar_search_per_group_with_ties() -> None:
    import numpy as np

    from offerwise.thresholds.cutoffs import _cutoffs
    from offerwise.thresholds.f1 import best_threshold

    rng = np.random.default_rng(4)
    n = 3_000
    frame = pl.DataFrame({
        "customer_id": rng.integers(0, 200, n), "category": "A", "model": rng.choice(["m", "n"], n),
        "probability": rng.integers(0, 12, n) / 12, "label": (rng.random(n) < 0.2).astype(np.int64),
    })  # fmt: skip
    got = _cutoffs(frame, ["customer_id", "category", "model"])
    assert got.height == frame.select("customer_id", "model").n_unique()
    for row in got.sample(150, seed=0).iter_rows(named=True):
        g = frame.filter((pl.col("customer_id") == row["customer_id"]) & (pl.col("model") == row["model"]))
        threshold, f1 = best_threshold(g.get_column("probability").to_numpy(), g.get_column("label").to_numpy())
        assert (row["threshold"], row["f1"]) == pytest.approx((threshold, f1))
