"""Column names every stage shares: one copy of each."""

from __future__ import annotations

import polars as pl

PAIR = ["customer_id", "item_id"]  # a consumer-item pair: the unit every decision is made for
OFFER = "offer_pct"  # the period's offer in % (the decided period's: the decision variable)
DESIGN_MEAN = "expected_offer_pct"  # offer_history: the randomised design's mean offer for the pair (null: not randomised)
OFFER_DESIGN = "offer_design_mean"  # panel: that mean in the period it applies to; the offer response's known E[offer | pair]
AGE_COLUMNS = ("demo_age_range", "demo_age")  # the consumer's age, by layout (AmExpert / canonical and Complete Journey)


def age_column(frame: pl.DataFrame) -> str | None:
    """The frame's age column, if it has one."""
    return next((c for c in frame.columns if c in AGE_COLUMNS), None)
