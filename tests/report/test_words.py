from offerwise.report.words import experiment_sentence, valuation_sentence

INFO = {
    "power": {"detectable_difference_per_consumer": 3.0, "expected_difference_per_consumer": 0.5},
    "consumers": {"holdout": 40, "plan": 360},
    "pairs": {"holdout": 160, "explore": 70, "plan": 1370},
    "given_up_share": 0.019,
    "holdout_share": 0.062,
    "holdout_share_configured": 0.1,
    "max_given_up_share": 0.02,
}


def test_a_holdout_lowered_by_the_cost_cap_says_so() -> None:
    text = experiment_sentence(INFO)
    assert "the holdout lowered from 10% to 6.2% of the consumers" in text and "experiment.max_given_up_share" in text
    assert "lowered" not in experiment_sentence(INFO | {"holdout_share": 0.1})
    none = experiment_sentence(INFO | {"consumers": {"holdout": 0, "plan": 400}, "holdout_share": 0.0})
    assert none.startswith("No holdout (none fits within experiment.max_given_up_share)")
    assert experiment_sentence(
        INFO | {"consumers": {"holdout": 0, "plan": 400}, "holdout_share": 0.0, "holdout_share_configured": 0.0}
    ).startswith("No holdout (experiment.holdout_share = 0)")


def test_the_valuation_says_how_cautious_the_plan_is() -> None:
    assert valuation_sentence("dml", 0.5, "change") == ""  # the mean: nothing to say
    assert valuation_sentence("counterfactual", 0.25, "change") == ""  # no posterior
    change = valuation_sentence("dml", 0.25, "change")
    assert "25%" in change and "75%" in change and "response_caution" in change
    slope = valuation_sentence("dml", 0.25, "slope")
    assert "25%" in slope and "75%" not in slope
