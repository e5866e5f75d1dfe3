from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.model.slices import make_slice

SPLITS = pl.DataFrame({"fold": [0] * 4, "period": [0, 1, 2, 3], "split": ["train", "train", "validation", "test"]})


def _frame() -> pl.DataFrame:
    # Pair (1, 7) bought at offers 10 and 30 in the training periods; pair (2, 7) never at an offer.
    return pl.DataFrame(
        {
            "customer_id": [1] * 4 + [2] * 4,
            "item_id": [7] * 8,
            "category": ["A"] * 8,
            "relevant_from_fold": [0] * 8,
            "period": [0, 1, 2, 3] * 2,
            "target": [1, 1, 0, 1, 0, 0, 1, 0],
            "offer_pct": [10.0, 30.0, 5.0, 6.0, 0.0, 0.0, 8.0, 9.0],
            "display": [0.0, 0.1, 0.2, 0.3, 0.0, 0.1, 0.2, 0.3],
        }
    )


def test_validation_as_decided_builds_validation_inputs_at_its_own_cutoff() -> None:
    sq = pl.DataFrame(
        {"customer_id": [1, 2], "item_id": [7, 7], "reference_offer_pct": [25.0, 15.0], "reference_rule": ["pair_recent", "planned"]}
    )
    plain = make_slice(_frame(), SPLITS, 0, "A", sq).frame
    sl = make_slice(_frame(), SPLITS, 0, "A", sq, validation_as_decided=True)
    both, rows = sl.frame, sl.validation_rows
    at = lambda f, period, col: f.filter(pl.col("period") == period).sort("customer_id").get_column(col).to_list()  # noqa: E731
    assert at(plain, 3, "offer_pct") == at(both, 3, "offer_pct") == [25.0, 15.0]  # decided period: the status quo
    assert at(plain, 3, "display") == at(both, 3, "display") == [0.2, 0.2]  # carried from the (realised) validation period
    assert at(plain, 2, "offer_pct") == [5.0, 8.0] and at(plain, 2, "display") == [0.2, 0.2]  # untouched without the flag
    # Pair 1: the reference offer at period 2 (its purchase offers in the two periods before: mean of 10 and 30);
    # pair 2: its decided status quo is the retailer's plan, so the validation period keeps the offer that ran.
    assert at(rows, 2, "offer_pct") == [20.0, 8.0] and at(rows, 2, "display") == [0.1, 0.1] and rows.height == 2
    assert_frame_equal(plain, both)  # the frame keeps realised validation inputs: history for the decided period


@pytest.fixture(scope="module")
def trained(small_panel, tmp_path_factory):
    """A category's models trained with the validation period as decided: (slice as elasticity makes it,
    that slice with the validation period as decided, the models' folder)."""
    from offerwise.config import ModelConfig
    from offerwise.features.status_quo import status_quo_offers
    from offerwise.model.fit import train_slice

    category = small_panel.frame.get_column("category").unique().sort()[0]
    plain = make_slice(small_panel.frame, small_panel.splits, 0, category)
    sq = status_quo_offers(plain.frame, plain.test, age_column=None)
    decided = make_slice(small_panel.frame, small_panel.splits, 0, category, sq, validation_as_decided=True)
    cfg = ModelConfig(epochs=1, channels=4, hidden=[8, 4, 2], batch_size=64, threads=1, lightgbm_rounds=5)
    folder = tmp_path_factory.mktemp("models")
    train_slice(decided, small_panel.features, cfg, folder, progress=False)
    return make_slice(small_panel.frame, small_panel.splits, 0, category, sq), decided, folder


def test_validation_as_decided_changes_validation_scores_only(trained) -> None:
    from offerwise.model.fit import predict_slice

    elasticity_slice, decided, folder = trained
    a, b = predict_slice(elasticity_slice, folder)[0], predict_slice(decided, folder)[0]
    split = lambda f, s: f.filter(pl.col("split") == s).get_column("probability").to_numpy()  # noqa: E731
    assert (split(a, "test") == split(b, "test")).all()  # the decided period sees the realised validation inputs as history
    assert (split(a, "validation") != split(b, "validation")).any()


def test_the_offer_curves_evaluate_writes_are_what_elasticity_would_score(trained) -> None:
    """One pass of evaluate's gives the decided period's curves over the offer grid, its probabilities
    and offers: the same as elasticity's own scoring of that slice (elasticity.scores.score_pairs)."""
    from offerwise.elasticity.scores import score_pairs
    from offerwise.model.fit import predict_slice
    from offerwise.model.tcn import TCNModel

    elasticity_slice, decided, folder = trained
    _, curves = predict_slice(decided, folder)
    own = score_pairs(elasticity_slice.frame, TCNModel.load(folder / "tcn.pt"), cutoff=decided.validation, decided=decided.test)
    assert_frame_equal(curves.select("customer_id", "item_id", "category"), own.keys)
    np.testing.assert_allclose(np.vstack(curves.get_column("curve").to_numpy()), own.curves, atol=1e-6)
    for column, expected in (("probability", own.prob), ("probability_cutoff", own.prob_cutoff)):
        np.testing.assert_allclose(curves.get_column(column).to_numpy(), expected, atol=1e-6)
    for column, expected in (("offer_pct", own.offers), ("cutoff_offer_pct", own.cutoff_offers)):
        np.testing.assert_array_equal(curves.get_column(column).to_numpy(), expected)


def test_a_training_row_counts_only_once_its_pair_had_min_orders_before_it() -> None:
    """Pair (1, 7) was bought in periods 0 and 1: by period 1 it had one order period, so with
    min_orders = 1 its period-0 row is out (its purchase there is what made it relevant), its
    period-1 row in. Validation and test masks do not change."""
    import numpy as np

    from offerwise.model.slices import eligible_rows, split_masks

    frame = _frame().with_columns(ci_orders=pl.Series([0, 1, 2, 2, 0, 0, 0, 1], dtype=pl.Float32))
    every, eligible = (make_slice(frame, SPLITS, 0, "A", min_orders=k) for k in (0, 1))
    assert eligible_rows(every, (2, 4)).all()
    np.testing.assert_array_equal(eligible_rows(eligible, (2, 4)), [[False, True, True, True], [False, False, False, True]])

    class Periods:  # what split_masks reads of the tensors
        y = np.zeros((2, 4))
        period = np.arange(4)

    all_masks, eligible_masks = split_masks(Periods, every), split_masks(Periods, eligible)
    np.testing.assert_array_equal(eligible_masks["train"], [[False, True, False, False], [False, False, False, False]])
    np.testing.assert_array_equal(all_masks["train"], [[True, True, False, False], [True, True, False, False]])
    for split in ("validation", "test"):
        np.testing.assert_array_equal(eligible_masks[split], all_masks[split])


def test_no_eligible_training_row_is_a_clear_input_error(small_panel, tmp_path) -> None:
    import pytest

    from offerwise.config import ModelConfig
    from offerwise.errors import InputError
    from offerwise.model.fit import train_slice
    from offerwise.model.slices import ALL

    sl = make_slice(small_panel.frame, small_panel.splits, 0, ALL, min_orders=10_000)
    with pytest.raises(InputError, match="train_rows"):
        train_slice(sl, small_panel.features, ModelConfig(epochs=1), tmp_path / "all", progress=False)
