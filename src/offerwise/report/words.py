"""Words the plan's summaries share, in the terminal and in the report."""

from __future__ import annotations


def status_quo_name(planned_share: float) -> str:
    """The status quo named for what it is: the retailer's plan only where it gave one."""
    if planned_share >= 1:
        return "the retailer's plan"
    if planned_share <= 0:
        return "the reference offers"
    return f"the retailer's plan ({planned_share:.0%} of pairs) and the reference offers for the rest"


def compared_with(planned_share: float) -> str:
    """What the plan's effect is measured against, with the rule that made the reference offers."""
    if 0 < planned_share < 1:
        return f"{status_quo_name(planned_share)} (panel.status_quo_rule)"
    return status_quo_name(planned_share) + (" (no plan given: panel.status_quo_rule)" if planned_share <= 0 else "")


def experiment_sentence(info: dict, *, with_cost: bool = True) -> str:
    """The plan's experiment (recommendations/experiment.json) in a few words: arms, what it gives up
    (`with_cost`), and whether one fortnight's holdout can confirm what the plan expects."""
    power, consumers, pairs = info["power"], info["consumers"], info["pairs"]
    share = info.get("holdout_share")
    configured = info.get("holdout_share_configured", share)  # a plan made before the cost cap has no configured share
    if not consumers["holdout"]:
        why = "experiment.holdout_share = 0" if not configured else "none fits within experiment.max_given_up_share"
        return f"No holdout ({why}); {pairs['explore']:,} pairs explore a random allowed level."
    detectable, expected = power["detectable_difference_per_consumer"], power["expected_difference_per_consumer"]
    verdict = "enough to confirm it" if expected >= detectable else "so pool fortnights (offerwise pool) or raise experiment.holdout_share"
    cost = f", giving up {info['given_up_share']:.1%} of the plan's expected net revenue" if with_cost else ""
    lowered = (
        f" (the holdout lowered from {configured:.0%} to {share:.1%} of the consumers, so that the experiment "
        f"gives up at most {info['max_given_up_share']:.0%}: experiment.max_given_up_share)"
        if share is not None and configured is not None and share < configured
        else ""
    )
    return (
        f"{consumers['holdout']:,} consumers keep the status quo{lowered}; {pairs['explore']:,} pairs explore a random allowed level{cost}. "
        f"The plan expects {expected:+.2f} net revenue per consumer; one fortnight's holdout detects {detectable:.2f}, "
        f"{verdict}. After the fortnight: offerwise measure --data EXPORT --run RUN."
    )


# Table headers in words, with units, for the columns the report's tables show (report/html.header
# writes any other snake_case name as words).
WORDS = {
    "sample_size": "Pair-periods (test)",
    "bce": "Test BCE",
    "bce_low": "BCE, 90 % low",
    "bce_high": "BCE, 90 % high",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "avg_elasticity": "Mean elasticity",
    "weighted_offer_pct": "Weighted offer (%)",
    "weighted_offer_pct_after": "Weighted offer, plan (%)",
    "slope": "Slope (logit per offer point)",
    "cross_slope": "Cross slope (logit per offer point)",
    "low": "90 % low",
    "high": "90 % high",
    "n_rows": "Rows",
    "placebo_covers_zero": "Placebo covers 0",
    "levels": "Allowed offers (%)",
    "no_offer_share": "No offer (share of pairs)",
    "bound_by_rules_share": "Bound by the rules (share)",
    "bound_by_retention_share": "Bound by retention (share)",
    "expected_revenue_before": "Expected net revenue, status quo",
    "expected_revenue_after": "Expected net revenue, plan",
    "expected_revenue_without_rules": "Expected net revenue, any level up to the deepest run",
    "retention_before": "Retention, status quo",
    "retention_after": "Retention, plan",
    "objective_form": "Objective",
    "gap": "Certified gap",
    "true_expected_revenue": "True expected net revenue",
    "true_expected_value": "True expected value",
    "true_retention": "True retention",
    "score_unconstrained": "Score against the unconstrained oracle",
    "joint_score": "Score as a whole (joint oracle)",
    "joint_score_unconstrained": "Score as a whole (joint oracle without the rules' levels)",
    "joint_score_equal_retention": "Score as a whole (joint oracle at the plan's true retention)",
}


def valuation_sentence(response_kind: str, quantile: float, caution: str) -> str:
    """How the optimiser valued the plan's changes (optimize.response_quantile, response_caution): "" at the mean."""
    if response_kind != "dml" or quantile == 0.5:
        return ""
    low, high = f"{min(quantile, 1 - quantile):.0%}", f"{max(quantile, 1 - quantile):.0%}"
    if caution == "change":
        return (
            f"Valued cautiously: each change from the status quo at the less favourable end of its effect (the {low} "
            f"quantile of the offer response where an offer rises, the {high} where it falls; optimize.response_caution), "
            f"and what an offer takes from the consumer's other items and categories at the {quantile:.0%} quantile of those pulls."
        )
    return (
        f"Every offer's effect is taken at the {quantile:.0%} quantile of the offer response (optimize.response_quantile), "
        "and so is what it takes from the consumer's other items and categories."
    )
