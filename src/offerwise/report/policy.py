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

On a simulator with substitution (data/choice.py) the per-pair scores value each offer one at a
time (every other pair at its reference offer), and the per-pair oracles optimise a logistic curve
through each pair's true one-at-a-time probability at the reference with its local slope there; the
plan is also judged as a whole (report/joint.py): `joint_score` against the interaction-aware oracle
at the plan's levels, `joint_score_unconstrained` against the same oracle free to use every step of
the grid "without rules" (optimize/levels.py), and `joint_score_equal_retention` against the
interaction-aware oracle at the plan's levels keeping the plan's own true retention rather than the
target (the plan keeps the target in its estimates, not always in truth: at equal retention neither
side is credited with retention the other gave up).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import PAIR
from offerwise.config import OptimizeConfig
from offerwise.data.choice import ChoiceWorld, one_at_a_time_probability
from offerwise.elasticity.sigmoid import sigmoid
from offerwise.optimize.levels import CategoryLevels
from offerwise.optimize.offers import optimize_all
from offerwise.report.joint import JOINT, joint_frame, joint_oracle, joint_scored, plan_retention

ORACLES = {"rules oracle": "score", "unconstrained oracle": "score_unconstrained"}
JOINT_UNCONSTRAINED = "joint unconstrained oracle"
JOINT_EQUAL_RETENTION = "joint oracle at the plan's retention"
JOINT_ORACLES = {
    "joint oracle": "joint_score",
    JOINT_UNCONSTRAINED: "joint_score_unconstrained",
    JOINT_EQUAL_RETENTION: "joint_score_equal_retention",
}


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


def _per_pair_truth(pairs: pl.DataFrame, frame: pl.DataFrame | None, world: ChoiceWorld | None) -> pl.DataFrame:
    """pairs with oracle_f and oracle_slope: the true per-pair curve's probability at the reference
    and its logit slope there (with substitution: one at a time, s the pair's share of its group's
    purchases and P the group's incidence, d logit p / d o = a (1 − s + λ s (1 − P)) / (1 − p))."""
    if frame is None or world is None or not world.substitution:
        return pairs.with_columns(oracle_f=true_probability(pairs, "reference_offer_pct"), oracle_slope=pl.col("true_a"))
    at = frame.with_columns(offer=pl.col("reference"))
    at = at.with_columns(p=one_at_a_time_probability(at, "offer", "reference", world))
    at = at.with_columns(P=pl.col("p").sum().over("customer_id", "category"))
    local = at.select(*PAIR, oracle_f="p", s=pl.col("p") / pl.col("P"), P="P")
    slope = pl.col("true_a") * (1 - pl.col("s") + world.expansion * pl.col("s") * (1 - pl.col("P"))) / (1 - pl.col("oracle_f"))
    return pairs.join(local, on=PAIR, how="left").with_columns(oracle_slope=slope).drop("s", "P")


def _oracle(pairs: pl.DataFrame, cfg: OptimizeConfig, levels: dict[str, CategoryLevels]) -> pl.DataFrame:
    """The oracle's offers (customer_id, item_id, offer) on the true per-pair response (_per_pair_truth)."""
    true_inputs = pairs.with_columns(probability=pl.col("oracle_f"), pair_slope=pl.col("oracle_slope"))
    oracle_cfg = cfg.model_copy(update={"response": "counterfactual", "pair_slope_weight": 1.0, "decision": "pair"})
    true_inputs = true_inputs.drop("true_a", "true_b", "oracle_f", "oracle_slope")
    chosen = [offers for offers, _ in optimize_all(true_inputs, oracle_cfg, levels) if offers is not None]
    frame = (
        pl.concat(chosen)
        if chosen
        else pl.DataFrame(schema={"customer_id": pl.Int64, "item_id": pl.Int64, "recommended_offer_pct": pl.Float64})
    )
    return frame.select(*PAIR, offer=pl.col("recommended_offer_pct"))


def _scored(
    name: str,
    chosen: pl.DataFrame,
    pairs: pl.DataFrame,
    unit_cost_share: float | None,
    frame: pl.DataFrame | None,
    world: ChoiceWorld | None,
) -> pl.DataFrame:
    """One policy's true expected revenue, the objective's value (revenue less unit cost under a
    margin objective) and retention per category, each pair valued alone (one at a time)."""
    scored = chosen.join(pairs, on=PAIR)
    cost = pl.lit(unit_cost_share or 0.0) * pl.col("price")
    if frame is not None and world is not None and world.substitution:
        alone = frame.join(chosen.select(*PAIR, "offer"), on=PAIR, how="left").with_columns(offer=pl.coalesce("offer", "reference"))
        alone = alone.select(*PAIR, p=one_at_a_time_probability(alone, "offer", "reference", world))
        scored = scored.join(alone, on=PAIR, how="left")
    else:
        scored = scored.with_columns(p=true_probability(scored, "offer"))
    return scored.group_by("category", maintain_order=True).agg(
        policy=pl.lit(name),
        true_expected_revenue=(pl.col("p") * pl.col("price") * (1 - pl.col("offer") / 100)).sum(),
        true_expected_value=(pl.col("p") * (pl.col("price") * (1 - pl.col("offer") / 100) - cost)).sum(),
        true_retention=pl.col("p").mean(),
        pairs=pl.len(),
    )


def policy_score(
    inputs: pl.DataFrame,
    offers: pl.DataFrame,
    truth: pl.DataFrame,
    cfg: OptimizeConfig,
    levels: dict[str, CategoryLevels],
    *,
    world: ChoiceWorld | None = None,
    truth_all: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """inputs: optimiser inputs; offers: our recommendations; truth: customer_id, item_id, true_a, true_b
    at the scored period; levels: the plan's. Columns: category, policy (status quo / ours / rules
    oracle / unconstrained oracle), true_expected_revenue, true_expected_value, true_retention, pairs, score,
    score_unconstrained; category "all" sums every category (the overall score is the ratio of summed gains)."""
    joint = world is not None and world.substitution and truth_all is not None
    pairs = inputs.join(truth, on=PAIR)
    frame = joint_frame(pairs, truth_all) if joint else None
    pairs = _per_pair_truth(pairs, frame, world)
    policies = {
        "status quo": pairs.select(*PAIR, offer=pl.col("reference_offer_pct")),
        "ours": offers.select(*PAIR, offer=pl.col("recommended_offer_pct")),
        "rules oracle": _oracle(pairs, cfg, levels),
        "unconstrained oracle": _oracle(pairs, cfg, unconstrained(levels)),
    }
    if joint:
        policies["joint oracle"] = joint_oracle(pairs, frame, world, cfg, levels)
        # ... and free of the rules' levels (every step of the grid "without rules"), as the unconstrained oracle is per pair
        policies[JOINT_UNCONSTRAINED] = joint_oracle(pairs, frame, world, cfg, {c: lv.without_rules() for c, lv in levels.items()})
        # ... and keeping the plan's own true retention instead of the target, which the plan holds only in its estimates:
        # a plan that gives retention up is then judged against the best plan that gives up as much, and one above it likewise
        kept = plan_retention(policies["ours"], frame, world)
        policies[JOINT_EQUAL_RETENTION] = joint_oracle(pairs, frame, world, cfg, levels, retention=kept)
    table = pl.concat([_scored(name, chosen, pairs, cfg.unit_cost_share, frame, world) for name, chosen in policies.items()])
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
    table = table.join(wide.select("category", *_scores(wide, ORACLES)), on="category", how="left")
    return _with_joint(table, policies, frame, world, cfg) if joint else table


def _with_joint(table: pl.DataFrame, policies: dict, frame: pl.DataFrame, world: ChoiceWorld, cfg: OptimizeConfig) -> pl.DataFrame:
    """The joint columns (report/joint.py) beside the per-pair ones, and joint_score (and
    joint_score_unconstrained): (ours − status quo) / (joint oracle − status quo) of the joint true
    expected value; category "all" sums every pair of the decision's consumers."""
    joint = pl.concat([joint_scored(name, chosen, frame, world, cfg.unit_cost_share) for name, chosen in policies.items()])
    plan_rows = frame.filter(pl.col("in_plan"))
    retention = joint.join(plan_rows.group_by("category").len(), on="category", how="left")
    overall = retention.group_by("policy", maintain_order=True).agg(
        category=pl.lit("all"),
        joint_true_expected_revenue=pl.col("joint_true_expected_revenue").sum(),
        joint_true_expected_value=pl.col("joint_true_expected_value").sum(),
        joint_true_retention=(pl.col("joint_true_retention").fill_null(0.0) * pl.col("len").fill_null(0)).sum() / pl.col("len").sum(),
    )
    joint = pl.concat([joint.select(JOINT), overall.select(JOINT)])
    wide = joint.pivot(on="policy", index="category", values="joint_true_expected_value")
    table = table.with_columns(pl.col("category").cast(pl.String))
    scores = wide.select("category", *_scores(wide, JOINT_ORACLES))
    return table.join(joint, on=["category", "policy"], how="left").join(scores, on="category", how="left")


def _scores(wide: pl.DataFrame, oracles: dict[str, str]) -> list[pl.Expr]:
    """Per oracle of `oracles` (policy -> score column), (ours − status quo) / (oracle − status quo) of
    `wide` (a column per policy); NaN where that oracle was not solved or gains nothing over the status
    quo (a share of no gain, or of a loss, means nothing: an oracle held to a retention the status quo
    does not reach may lose, and a plan that loses more would otherwise score above 0)."""
    gain = pl.col("ours") - pl.col("status quo")
    scores = []
    for oracle, column in oracles.items():
        room = pl.col(oracle) - pl.col("status quo") if oracle in wide.columns else pl.lit(np.nan)
        scores.append(pl.when(room > 0).then(gain / room).otherwise(np.nan).alias(column))
    return scores


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
    world: ChoiceWorld | None = None,
    truth_all: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """policy_score from one decision's artifacts (frames) and the simulator's truth for its decided
    period (customer_id, item_id, true_a, true_b). The status quo is the decision's reference offer:
    the retailer's plan where it gave one."""
    from offerwise.optimize.inputs import optimization_inputs

    inputs = optimization_inputs(panel, pair_elasticity, thresholds, fits, fold=fold, model=model)
    return policy_score(inputs, offers, truth, cfg, levels, world=world, truth_all=truth_all)
