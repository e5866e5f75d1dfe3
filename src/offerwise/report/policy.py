"""Policy score on simulated data: status quo, our offers and the oracle's, all under the true response.

The oracle runs the same optimisation on the simulator's true response (which is logistic in the
offer, so a pair's true curve is exactly logit p = true_a · o + true_b). Score:
(ours − status quo) / (oracle − status quo) of true expected net revenue.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.config import OptimizeConfig
from offerwise.optimize.pipeline import optimize_category


def _true_p(o: pl.Expr) -> pl.Expr:
    return 1 / (1 + (-(pl.col("true_a") * o + pl.col("true_b"))).exp())


def policy_score(
    inputs: pl.DataFrame, offers: pl.DataFrame, truth: pl.DataFrame, cfg: OptimizeConfig, ranges: dict[str, tuple[float, float]]
) -> pl.DataFrame:
    """inputs: optimiser inputs; offers: our recommendations; truth: customer_id, item_id, true_a, true_b
    at the scored period. Columns: category, policy, true_expected_revenue, true_retention, pairs, score;
    category "all" sums every category (the overall score is the ratio of summed gains)."""
    pairs = inputs.join(truth, on=["customer_id", "item_id"])
    oracle_inputs = pairs.with_columns(probability=_true_p(pl.col("reference_offer_pct")), pair_slope=pl.col("true_a"))
    oracle_cfg = cfg.model_copy(update={"response": "counterfactual", "pair_slope_weight": 1.0})  # the true per-pair slopes
    rows = []
    for (category,), group in oracle_inputs.group_by("category", maintain_order=True):
        oracle, _ = optimize_category(group.drop("true_a", "true_b"), oracle_cfg, ranges[category])
        ours = offers.filter(pl.col("category") == category)
        policies = {"status quo": group.select("customer_id", "item_id", offer=pl.col("reference_offer_pct"))}
        policies["ours"] = ours.select("customer_id", "item_id", offer=pl.col("recommended_offer_pct"))
        if oracle is not None:
            policies["oracle"] = oracle.select("customer_id", "item_id", offer=pl.col("recommended_offer_pct"))
        for name, chosen in policies.items():
            scored = chosen.join(pairs.filter(pl.col("category") == category), on=["customer_id", "item_id"]).with_columns(
                p=_true_p(pl.col("offer"))
            )
            rows.append(
                {
                    "category": category,
                    "policy": name,
                    "true_expected_revenue": scored.select((pl.col("p") * pl.col("price") * (1 - pl.col("offer") / 100)).sum()).item(),
                    "true_retention": scored["p"].mean(),
                    "pairs": scored.height,
                }
            )
    table = pl.DataFrame(rows)
    overall = table.group_by("policy", maintain_order=True).agg(
        category=pl.lit("all"),
        true_expected_revenue=pl.col("true_expected_revenue").sum(),
        true_retention=(pl.col("true_retention") * pl.col("pairs")).sum() / pl.col("pairs").sum(),
        pairs=pl.col("pairs").sum(),
    )
    complete = table.group_by("category").len().get_column("len").min() == 3  # an oracle in every category
    table = pl.concat([table, overall.select(table.columns)]) if complete else table
    wide = table.pivot(on="policy", index="category", values="true_expected_revenue")
    score = (
        wide.select("category", score=(pl.col("ours") - pl.col("status quo")) / (pl.col("oracle") - pl.col("status quo")))
        if "oracle" in wide.columns
        else wide.select("category", score=pl.lit(np.nan))
    )
    return table.join(score, on="category", how="left")


def score_against_truth(
    panel: pl.DataFrame,
    pair_elasticity: pl.DataFrame,
    thresholds: pl.DataFrame,
    fits: pl.DataFrame,
    offers: pl.DataFrame,
    truth: pl.DataFrame,
    cfg: OptimizeConfig,
    *,
    fold: int | None = None,
    model: str = "tcn",
) -> pl.DataFrame:
    """policy_score from one decision's artifacts (frames) and the simulator's truth for its decided
    period (customer_id, item_id, true_a, true_b). The status quo is the decision's reference offer:
    the retailer's plan where it gave one."""
    from offerwise.optimize.inputs import optimization_inputs
    from offerwise.optimize.pipeline import category_ranges

    inputs = optimization_inputs(panel, pair_elasticity, thresholds, fits, fold=fold, model=model)
    return policy_score(inputs, offers, truth, cfg, category_ranges(inputs, cfg.offer_range_percentiles))
