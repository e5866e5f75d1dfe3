"""offerwise.pipeline.decide: the forward decision reuses the backtest's offer response unless the
fortnight the backtest did not see holds randomised offers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from offerwise.columns import OFFER_DESIGN
from offerwise.config import ResponseConfig
from offerwise.pipeline.decide import _response_inputs

CUTOFF = 5  # the forward decision's cutoff: the backtest's estimate ended a fortnight before


def _prepared(randomised_periods: list[int]) -> SimpleNamespace:
    periods = list(range(CUTOFF + 2))
    frame = pl.DataFrame(
        {
            "customer_id": [1] * len(periods),
            "item_id": [10] * len(periods),
            "period": periods,
            "relevant_from_fold": [0] * len(periods),
            OFFER_DESIGN: [20.0 if t in randomised_periods else None for t in periods],
        }
    )
    return SimpleNamespace(frame=frame, features=[], forward_fold=1, decided_period=lambda fold: CUTOFF + 1)


def _backtest(folder: Path) -> Path:
    folder.mkdir()
    empty = {"categories": [], "groups": [], "shared": [], "pooled": {}, "cuts": [], "info": {}}
    (folder / "response_estimate.json").write_text(json.dumps(empty))
    pl.DataFrame({"category": ["A"], "cross_slope": [0.0], "high": [0.1]}).write_csv(folder / "cross_response.csv")
    return folder


def test_the_backtest_s_estimate_is_reused_unless_the_unseen_fortnight_was_randomised(tmp_path: Path) -> None:
    backtest, said = _backtest(tmp_path / "evaluation"), []
    inputs = lambda periods: _response_inputs(_prepared(periods), 1, ResponseConfig(), backtest, said.append)  # noqa: E731
    for seen in ([], [CUTOFF - 1]):  # no experiment, or one the backtest's estimate already read
        reused = inputs(seen)
        assert reused["estimate"] is not None and reused["cross"] is not None, seen
        assert reused["rows"].get_column("period").to_list() == [CUTOFF + 1]  # all the reused estimate reads: the decided period
    afresh = inputs([CUTOFF - 1, CUTOFF])  # the fortnight measured last: the next plan learns from it now
    assert afresh["estimate"] is None and afresh["cross"] is None
    assert said[-1] == "offer response (double ML): estimated afresh, with the last fortnight's randomised offers"
    assert afresh["rows"].get_column("period").max() == CUTOFF + 1 and afresh["cutoff"] == CUTOFF
