"""Words the plan's summaries share, in the terminal and in the report."""

from __future__ import annotations


def compared_with(planned_share: float) -> str:
    """What the plan's effect is measured against: the retailer's plan only where it gave one."""
    if planned_share >= 1:
        return "the planned offers"
    if planned_share <= 0:
        return "the status quo offers (no planned offers given: panel.status_quo_rule)"
    return f"the planned offers ({planned_share:.0%} of pairs; the rest: the status quo rule)"
