"""Policy score on simulated data: status quo, our offers and two oracles, all under the true response.

The oracles optimise on the simulator's true response (logistic in the offer, so a pair's true curve
is exactly logit p = true_a · o + true_b), with the plan's retention target:
* the rules oracle: the levels the plan was allowed (optimize/levels.py), so its score measures the
  estimates inside the rules;
* the unconstrained oracle: every whole offer % from 0 to the deepest any category ran, so the
  score against it also counts what the rules cost.
Score: (ours − status quo) / (oracle − status quo) of the objective's true expected value (net
revenue, less unit cost under a margin objective); `score` against the rules oracle,
`score_unconstrained` against the other.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import PAIR
from offerwise.config import OptimizeConfig
from offerwise.elasticity.sigmoid import sigmoid
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.offers import optimize_all

ORACLES = {"rules oracle": "score", "unconstrained oracle": "score_unconstrained"}


def true_probability(frame: pl.DataFrame, offer: str) -> pl.Series:
    """The simulator's true purchase probability of each row at its `offer` column: sigmoid(true_a · o + true_b)."""
    return pl.Series(
        sigmoid(frame.get_column(offer).to_numpy(), frame.get_column("true_a").to_numpy(), frame.get_column("true_b").to_numpy())
    )


def unconstrained(levels: dict[str, CategoryLevels]) -> dict[str, CategoryLevels]:
    """Every whole offer % from 0 to the top of the grid "without rules" (the deepest offer run)."""
    top = max(max(lv.grid) for lv in levels.values()) if levels else 0.0
    grid = tuple(float(v) for v in np.arange(0.0, top + 0.5, 1.0))
    return {c: CategoryLevels("none", grid, grid, (0.0, top)) for c in levels}


def _oracle(pairs: pl.DataFrame, cfg: OptimizeConfig, levels: dict[str, CategoryLevels]) -> pl.DataFrame:
    """The oracle's offers (customer_id, item_id, offer) on the true per-pair response."""
    true_inputs = pairs.with_columns(probability=true_probability(pairs, "reference_offer_pct"), pair_slope=pl.col("true_a"))
    oracle_cfg = cfg.model_copy(update={"response": "counterfactual", "pair_slope_weight": 1.0})  # the true per-pair slopes
    chosen = [offers for offers, _ in optimize_all(true_inputs.drop("true_a", "true_b"), oracle_cfg, levels) if offers is not None]
    frame = (
        pl.concat(chosen)
        if chosen
        else pl.DataFrame(schema={"customer_id": pl.Int64, "item_id": pl.Int64, "recommended_offer_pct": pl.Float64})
    )
    return frame.select(*PAIR, offer=pl.col("recommended_offer_pct"))


def _scored(name: str, chosen: pl.DataFrame, pairs: pl.DataFrame, unit_cost_share: float | None) -> pl.DataFrame:
    """One policy's true expected revenue, the objective's value (revenue less unit cost under a
    margin objective) and retention per category."""
    scored = chosen.join(pairs, on=PAIR)
    cost = pl.lit(unit_cost_share or 0.0) * pl.col("price")
    return (
        scored.with_columns(p=true_probability(scored, "offer"))
        .group_by("category", maintain_order=True)
        .agg(
            policy=pl.lit(name),
            true_expected_revenue=(pl.col("p") * pl.col("price") * (1 - pl.col("offer") / 100)).sum(),
            true_expected_value=(pl.col("p") * (pl.col("price") * (1 - pl.col("offer") / 100) - cost)).sum(),
            true_retention=pl.col("p").mean(),
            pairs=pl.len(),
        )
    )


def policy_score(
    inputs: pl.DataFrame, offers: pl.DataFrame, truth: pl.DataFrame, cfg: OptimizeConfig, levels: dict[str, CategoryLevels]
) -> pl.DataFrame:
    """inputs: optimiser inputs; offers: our recommendations; truth: customer_id, item_id, true_a, true_b
    at the scored period; levels: the plan's. Columns: category, policy (status quo / ours / rules
    oracle / unconstrained oracle), true_expected_revenue, true_expected_value, true_retention, pairs, score,
    score_unconstrained; category "all" sums every category (the overall score is the ratio of summed gains)."""
    pairs = inputs.join(truth, on=PAIR)
    policies = {
        "status quo": pairs.select(*PAIR, offer=pl.col("reference_offer_pct")),
        "ours": offers.select(*PAIR, offer=pl.col("recommended_offer_pct")),
        "rules oracle": _oracle(pairs, cfg, levels),
        "unconstrained oracle": _oracle(pairs, cfg, unconstrained(levels)),
    }
    table = pl.concat([_scored(name, chosen, pairs, cfg.unit_cost_share) for name, chosen in policies.items()])
    overall = table.group_by("policy", maintain_order=True).agg(
        category=pl.lit("all"),
        true_expected_revenue=pl.col("true_expected_revenue").sum(),
        true_expected_value=pl.col("true_expected_value").sum(),
        true_retention=(pl.col("true_retention") * pl.col("pairs")).sum() / pl.col("pairs").sum(),
        pairs=pl.col("pairs").sum(),
    )
    complete = table.group_by("category").len().get_column("len").min() == len(policies)  # every oracle in every category
    table = pl.concat([table, overall.select(table.columns)]) if complete else table
    wide = table.pivot(on="policy", index="category", values="true_expected_value")  # what the plan and the oracles maximise
    gain = pl.col("ours") - pl.col("status quo")
    scores = [
        (gain / (pl.col(oracle) - pl.col("status quo")) if oracle in wide.columns else pl.lit(np.nan)).alias(column)
        for oracle, column in ORACLES.items()
    ]
    return table.join(wide.select("category", *scores), on="category", how="left")


def score_against_truth(
    panel: pl.DataFrame,
    pair_elasticity: pl.DataFrame,
    thresholds: pl.DataFrame,
    fits: pl.DataFrame,
    offers: pl.DataFrame,
    truth: pl.DataFrame,
    cfg: OptimizeConfig,
    levels: dict[str, CategoryLevels],
    *,
    fold: int | None = None,
    model: str = "tcn",
) -> pl.DataFrame:
    """policy_score from one decision's artifacts (frames) and the simulator's truth for its decided
    period (customer_id, item_id, true_a, true_b). The status quo is the decision's reference offer:
    the retailer's plan where it gave one."""
    from offerwise.optimize.inputs import optimization_inputs

    inputs = optimization_inputs(panel, pair_elasticity, thresholds, fits, fold=fold, model=model)
    return policy_score(inputs, offers, truth, cfg, levels)
