from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from offerwise.model.pipeline import make_slice

SPLITS = pl.DataFrame({"fold": [0] * 4, "period": [0, 1, 2, 3], "split": ["train", "train", "validation", "test"]})


def _frame() -> pl.DataFrame:
    # Pair (1, 7) bought at offers 10 and 30 in the training periods; pair (2, 7) never at an offer.
    return pl.DataFrame(
        {
            "customer_id": [1] * 4 + [2] * 4,
            "item_id": [7] * 8,
            "category": ["A"] * 8,
            "relevant_from_fold": [0] * 8,
            "period": [0, 1, 2, 3] * 2,
            "target": [1, 1, 0, 1, 0, 0, 1, 0],
            "offer_pct": [10.0, 30.0, 5.0, 6.0, 0.0, 0.0, 8.0, 9.0],
            "display": [0.0, 0.1, 0.2, 0.3, 0.0, 0.1, 0.2, 0.3],
        }
    )


def test_validation_as_decided_builds_validation_inputs_at_its_own_cutoff() -> None:
    sq = pl.DataFrame({"customer_id": [1, 2], "item_id": [7, 7], "reference_offer_pct": [25.0, 15.0], "reference_rule": ["pair_recent", "planned"]})
    plain = make_slice(_frame(), SPLITS, 0, "A", sq).frame
    both = make_slice(_frame(), SPLITS, 0, "A", sq, validation_as_decided=True).frame
    at = lambda f, period, col: f.filter(pl.col("period") == period).sort("customer_id").get_column(col).to_list()  # noqa: E731
    assert at(plain, 3, "offer_pct") == at(both, 3, "offer_pct") == [25.0, 15.0]  # decided period: the status quo
    assert at(plain, 3, "display") == at(both, 3, "display") == [0.2, 0.2]  # carried from the (realised) validation period
    assert at(plain, 2, "offer_pct") == [5.0, 8.0] and at(plain, 2, "display") == [0.2, 0.2]  # untouched without the flag
    # Pair 1: the reference offer at period 2 (its purchase offers in the two periods before: mean of 10 and 30);
    # pair 2: its decided status quo is the retailer's plan, so the validation period keeps the offer that ran.
    assert at(both, 2, "offer_pct") == [20.0, 8.0] and at(both, 2, "display") == [0.1, 0.1]
    assert_frame_equal(plain.filter(pl.col("period") < 2), both.filter(pl.col("period") < 2))
