"""Words the plan's summaries share, in the terminal and in the report."""

from __future__ import annotations


def compared_with(planned_share: float) -> str:
    """What the plan's effect is measured against: the retailer's plan only where it gave one."""
    if planned_share >= 1:
        return "the planned offers"
    if planned_share <= 0:
        return "the status quo offers (no planned offers given: panel.status_quo_rule)"
    return f"the planned offers ({planned_share:.0%} of pairs; the rest: the status quo rule)"


def experiment_sentence(info: dict) -> str:
    """The plan's experiment (recommendations/experiment.json) in one sentence: arms, what it gives up,
    and whether its holdout can detect what the plan expects."""
    power, consumers, pairs = info["power"], info["consumers"], info["pairs"]
    if not consumers["holdout"]:
        return f"Experiment: no holdout (experiment.holdout_share = 0), {pairs['explore']:,} pairs explored; the plan cannot be measured against the status quo."
    detectable, expected = power["detectable_difference_per_consumer"], power["expected_difference_per_consumer"]
    verdict = (
        "the holdout can confirm it"
        if expected >= detectable
        else "that is below what the holdout can detect in one fortnight: pool fortnights or raise experiment.holdout_share"
    )
    return (
        f"Experiment: {consumers['holdout']:,} consumers keep the status quo (holdout), {pairs['explore']:,} pairs get a random allowed "
        f"level (exploration), giving up {info['given_up_share']:.1%} of the plan's expected net revenue. The plan expects "
        f"{expected:+.2f} net revenue per consumer; the holdout detects {detectable:.2f} (80 % power, 5 % two-sided): {verdict}. "
        "After the fortnight: offerwise measure --data EXPORT --run RUN."
    )
