"""The simulator's true values of what `offerwise measure` estimates, for a played fortnight
(data/play.py's played_truth: each pair's realised base logit b and slope a; independent pairs).

R(o) = σ(b + a·o) · price · (1 − o/100) · PAID_PER_PURCHASE, a pair's expected net revenue at offer o
as the simulator's lines pay it (several units, a few coupons).
* difference: plan − holdout per consumer, the mean over the plan's consumers of Σ over their pairs of
  R(treated) − R(status quo), the treated policy being the plan with its exploration:
  (1 − e)·R(plan) + e·mean over the category's levels L of R(l) (e = 0 where L is empty);
* plan_value: the plan's value per pair, the mean of R(plan) over the treated consumers' pairs;
* slopes: per category the true slope a of the explored pairs, weighted by p(1 − p) at the given offer
  (what one logit slope pools; `true_slope`) and unweighted (`true_slope_mean`).
"""

from __future__ import annotations

import polars as pl

from offerwise.columns import PAIR
from offerwise.data.simulate import PAID_PER_PURCHASE


def _p(offer: pl.Expr) -> pl.Expr:
    return 1 / (1 + (-(pl.col("true_b") + pl.col("true_a") * offer)).exp())


def _revenue(offer: pl.Expr) -> pl.Expr:
    return _p(offer) * pl.col("price") * (1 - offer / 100) * PAID_PER_PURCHASE


def true_values(offers: pl.DataFrame, played: pl.DataFrame, explore_share: float, levels: dict[str, list[float]]) -> dict:
    """offers: the plan's offers file (arm, plan_offer_pct, ...); played: played_truth (true_a, true_b, price)."""
    frame = offers.drop("price").join(played.select(*PAIR, "true_a", "true_b", "price"), on=PAIR)
    parts = []
    for category, part in frame.group_by("category", maintain_order=True):
        allowed = levels.get(str(category[0])) or []
        e = explore_share if allowed else 0.0
        explored = pl.mean_horizontal([_revenue(pl.lit(float(level))) for level in allowed]) if allowed else pl.lit(0.0)
        parts.append(part.with_columns(treated=(1 - e) * _revenue(pl.col("plan_offer_pct")) + e * explored))
    frame = pl.concat(parts).with_columns(status_quo=_revenue(pl.col("reference_offer_pct")), plan=_revenue(pl.col("plan_offer_pct")))
    explored = frame.filter(pl.col("arm") == "explore").with_columns(p=_p(pl.col("recommended_offer_pct")))
    weight = pl.col("p") * (1 - pl.col("p"))
    return {
        "difference": float(
            (frame.get_column("treated") - frame.get_column("status_quo")).sum() / frame.get_column("customer_id").n_unique()
        ),
        "plan_value": float(frame.filter(pl.col("arm") != "holdout").get_column("plan").mean()),
        "slopes": explored.group_by("category").agg(
            true_slope=(pl.col("true_a") * weight).sum() / weight.sum(), true_slope_mean=pl.col("true_a").mean()
        ),
    }
