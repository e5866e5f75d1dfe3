"""The run's expected duration, said up front (offerwise.pipeline.duration)."""

from __future__ import annotations

import pytest

from offerwise.config import Config
from offerwise.pipeline.duration import (
    MEASURED_EPOCH_S,
    MEASURED_EPOCHS,
    MEASURED_LINES,
    MEASURED_OTHER_S,
    MEASURED_TRAIN_S,
    expected_seconds,
    expected_sentence,
)

MAKE_RUN = Config().override("model", per_category=False, epochs=MEASURED_EPOCHS, forward_models="reuse")


def test_the_measured_run_is_expected_to_take_what_it_took_and_more_data_longer() -> None:
    assert expected_seconds(MEASURED_LINES, MAKE_RUN, 2) == pytest.approx(MEASURED_TRAIN_S + MEASURED_OTHER_S)
    assert expected_seconds(2 * MEASURED_LINES, MAKE_RUN, 2) == pytest.approx(2 * expected_seconds(MEASURED_LINES, MAKE_RUN, 2))
    refit = MAKE_RUN.override("model", forward_models="refit", epochs=2 * MEASURED_EPOCHS)
    twice_the_epochs = MEASURED_TRAIN_S + MEASURED_EPOCH_S * MEASURED_EPOCHS  # each of the two trainings
    assert expected_seconds(MEASURED_LINES, refit, 2) == pytest.approx(2 * twice_the_epochs + MEASURED_OTHER_S)
    assert expected_seconds(MEASURED_LINES, MAKE_RUN, 8) < expected_seconds(MEASURED_LINES, MAKE_RUN, 2)


def test_the_sentence_names_the_size_and_warns_of_per_category_models() -> None:
    minutes = round(expected_seconds(700_000, MAKE_RUN, 2) / 60)
    assert expected_sentence(700_000, MAKE_RUN, 2).startswith(f"700,000 transaction lines: about {minutes} minutes on 2 cores")
    assert "one model per category" in expected_sentence(700_000, MAKE_RUN.override("model", per_category=True), 2)


def test_a_short_run_reads_as_one_minute_or_under_a_minute() -> None:
    one_minute = 60 / expected_seconds(1, MAKE_RUN, 2)  # the lines a minute's run has
    assert expected_sentence(int(one_minute), MAKE_RUN, 2).endswith(": about 1 minute on 2 cores")
    assert expected_sentence(int(0.3 * one_minute), MAKE_RUN, 2).endswith(": under a minute on 2 cores")
