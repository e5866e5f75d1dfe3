from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from offerwise.model.metrics import bce
from offerwise.model.stack import POOLED, apply_stack, fit_stack, stack_logit


def _frame(
    rng: np.random.Generator,
    category: str,
    n: int,
    w: tuple[float, float, float],
    *,
    split: str = "validation",
    fold: int = 0,
    start: int = 0,
) -> pl.DataFrame:
    """Rows of both parts for one category; the label comes from w_tcn·l_tcn + w_lgbm·l_lgbm + b."""
    l_tcn = rng.normal(-1.5, 1.5, n)
    l_lgbm = 0.5 * l_tcn + rng.normal(-0.7, 1.2, n)
    label = (rng.random(n) < expit(w[0] * l_tcn + w[1] * l_lgbm + w[2])).astype(np.int8)
    base = pl.DataFrame({
        "customer_id": np.arange(start, start + n) // 3, "item_id": np.arange(start, start + n) % 3, "category": category,
        "period": pl.Series([10 + fold + (split == "test")] * n, dtype=pl.Int32), "split": split, "label": label,
    })  # fmt: skip
    return pl.concat(
        base.with_columns(model=pl.lit(name), probability=pl.Series(expit(lg)), fold=pl.lit(fold, pl.Int32))
        for name, lg in (("tcn", l_tcn), ("lightgbm", l_lgbm))
    ).select("customer_id", "item_id", "category", "period", "split", "model", "probability", "label", "fold")


@pytest.fixture(scope="module")
def synthetic() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    return pl.concat([
        _frame(rng, "Bakery", 6000, (0.8, 0.4, -0.2)),
        _frame(rng, "Dairy", 6000, (0.6, 0.5, 0.1), start=10**6),
        _frame(rng, "Tiny", 30, (0.0, 1.6, 1.0), start=2 * 10**6),
        _frame(rng, "Bakery", 500, (0.8, 0.4, -0.2), split="test", start=3 * 10**6),
    ])  # fmt: skip


def _row(weights: pl.DataFrame, category: str) -> np.ndarray:
    return weights.filter(pl.col("category") == category).select("w_tcn", "w_lightgbm", "intercept").to_numpy()[0]


def test_recovers_known_mix(synthetic: pl.DataFrame) -> None:
    weights = fit_stack(synthetic, form="logistic")
    assert set(weights.columns) == {"fold", "category", "w_tcn", "w_lightgbm", "intercept", "n_validation"}
    assert set(weights.get_column("category")) == {"Bakery", "Dairy", "Tiny", POOLED}
    np.testing.assert_allclose(_row(weights, "Bakery"), [0.8, 0.4, -0.2], atol=0.15)
    np.testing.assert_allclose(_row(weights, "Dairy"), [0.6, 0.5, 0.1], atol=0.15)
    assert weights.filter(pl.col("category") == "Tiny").get_column("n_validation").item() == 30
    assert weights.filter(pl.col("category") == POOLED).get_column("n_validation").item() == 12030


def test_weights_never_negative() -> None:
    rng = np.random.default_rng(5)
    # LightGBM's logit is anti-informative: an unconstrained fit would give it a negative weight.
    frame = _frame(rng, "Bakery", 4000, (1.0, -0.8, 0.0))
    weights = fit_stack(frame, form="logistic")
    assert (weights.get_column("w_tcn") >= 0).all() and (weights.get_column("w_lightgbm") >= 0).all()
    assert _row(weights, "Bakery")[1] == pytest.approx(0.0, abs=1e-8)


def test_small_category_is_pulled_to_pooled_fit(synthetic: pl.DataFrame) -> None:
    shrunk, free = fit_stack(synthetic, form="logistic"), fit_stack(synthetic, shrinkage=0.0, form="logistic")
    pooled = _row(shrunk, POOLED)
    np.testing.assert_allclose(pooled, _row(free, POOLED))  # the pooled row itself is never shrunk
    tiny_shrunk, tiny_free = np.linalg.norm(_row(shrunk, "Tiny") - pooled), np.linalg.norm(_row(free, "Tiny") - pooled)
    assert tiny_shrunk < 0.35 * tiny_free
    # A large category barely moves: the pull fades with its row count.
    assert np.linalg.norm(_row(shrunk, "Bakery") - _row(free, "Bakery")) < 0.05


def test_stack_log_loss_not_worse_than_parts(synthetic: pl.DataFrame) -> None:
    stack = apply_stack(synthetic, fit_stack(synthetic, form="logistic"))
    validation = pl.concat([synthetic, stack]).filter(pl.col("split") == "validation")
    loss = {m: bce(g.get_column("label").to_numpy(), g.get_column("probability").to_numpy()) for (m,), g in validation.group_by("model")}
    assert loss["stack"] <= loss["tcn"] and loss["stack"] <= loss["lightgbm"]


def test_apply_stack_rows_and_columns(synthetic: pl.DataFrame) -> None:
    # One TCN row dropped: that key has no stack row.
    dropped = synthetic.filter(~((pl.col("model") == "tcn") & (pl.col("customer_id") == 0) & (pl.col("item_id") == 0)))
    stack = apply_stack(dropped, fit_stack(synthetic, form="logistic"))
    assert stack.columns == synthetic.columns and stack.schema == synthetic.schema
    assert set(stack.get_column("model")) == {"stack"}
    assert stack.height == synthetic.height // 2 - 1
    assert set(stack.get_column("split")) == {"validation", "test"}
    assert stack.get_column("probability").is_between(0, 1).all()


def test_apply_uses_fold_weights_and_pooled_fallback() -> None:
    rng = np.random.default_rng(2)
    frame = pl.concat(
        [_frame(rng, "Bakery", 200, (1, 0, 0), fold=f) for f in (0, 1)]
        + [_frame(rng, "New", 5, (1, 0, 0), split="test", fold=1, start=10**5)]
    )
    weights = pl.DataFrame({
        "fold": [0, 0, 1, 1], "category": ["Bakery", POOLED, "Bakery", POOLED],
        "w_tcn": [1.0, 0.0, 0.0, 0.0], "w_lightgbm": [0.0, 0.0, 0.0, 0.0], "intercept": [0.0, 0.0, 2.0, -1.0],
    })  # fmt: skip
    stack = apply_stack(frame, weights).join(
        frame.filter(pl.col("model") == "tcn").select("customer_id", "item_id", "fold", "split", p_tcn="probability"),
        on=["customer_id", "item_id", "fold", "split"],
    )
    fold0 = stack.filter(pl.col("fold") == 0)
    np.testing.assert_allclose(fold0.get_column("probability").to_numpy(), fold0.get_column("p_tcn").to_numpy(), rtol=1e-9)
    assert np.allclose(
        stack.filter((pl.col("fold") == 1) & (pl.col("category") == "Bakery")).get_column("probability").to_numpy(), expit(2.0)
    )
    assert np.allclose(stack.filter(pl.col("category") == "New").get_column("probability").to_numpy(), expit(-1.0))
    with pytest.raises(ValueError, match="weights"):
        apply_stack(frame, weights.filter(pl.col("fold") == 0))


def test_stack_logit_monotone_in_tcn_logit(synthetic: pl.DataFrame) -> None:
    weights = fit_stack(synthetic, form="logistic")
    grid = np.linspace(-8, 8, 401)
    for row in weights.iter_rows(named=True):
        for l_lgbm in (-5.0, 0.0, 3.0):
            z = stack_logit(grid, np.full_like(grid, l_lgbm), row)
            assert np.all(np.diff(z) >= 0)
    # Per-row weights broadcast; a one-row frame is accepted.
    z = stack_logit(np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 0.0]]))
    np.testing.assert_allclose(z, [5.0, 0.5])
    assert stack_logit(1.0, 1.0, weights.filter(pl.col("category") == POOLED)).shape == ()
    with pytest.raises(ValueError, match="w:"):
        stack_logit(1.0, 1.0, (1.0, 2.0))


def test_fit_needs_validation_rows_with_both_parts(synthetic: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="predictions"):
        fit_stack(synthetic.filter(pl.col("model") == "tcn"))
    with pytest.raises(ValueError, match="shrinkage"):
        fit_stack(synthetic, shrinkage=-1)


def test_convex_form_averages_the_two_logits_without_an_intercept() -> None:
    rng = np.random.default_rng(5)
    tcn_only = _frame(rng, "Bakery", 6000, (1.0, 0.0, 0.0))  # the label follows the TCN's logit alone
    even = _frame(rng, "Dairy", 6000, (0.5, 0.5, 0.0), start=10**6)
    weights = fit_stack(pl.concat([tcn_only, even]), form="convex", shrinkage=0.0)
    np.testing.assert_allclose(weights.get_column("w_tcn") + weights.get_column("w_lightgbm"), 1.0)
    assert (weights.get_column("intercept") == 0).all()
    assert weights.get_column("w_tcn").is_between(0, 1).all()
    assert _row(weights, "Bakery")[0] > 0.85 and 0.3 < _row(weights, "Dairy")[0] < 0.7


def test_convex_form_keeps_the_parts_level_when_validation_shifts_it() -> None:
    """A validation fortnight with an unusual purchase rate moves the logistic stack's intercept to
    its rate, not the convex stack: each of its probabilities lies between its parts'."""
    rng = np.random.default_rng(8)
    shifted = _frame(rng, "Bakery", 6000, (0.5, 0.5, 0.8))  # purchases well above what both parts say
    rate = shifted.filter(pl.col("model") == "tcn").get_column("label").mean()
    stack = apply_stack(shifted, fit_stack(shifted, form="convex")).get_column("probability").to_numpy()
    parts = np.stack([shifted.filter(pl.col("model") == m).get_column("probability").to_numpy() for m in ("tcn", "lightgbm")])
    assert (stack >= parts.min(axis=0) - 1e-12).all() and (stack <= parts.max(axis=0) + 1e-12).all()
    assert stack.mean() < rate - 0.05
    logistic = apply_stack(shifted, fit_stack(shifted, form="logistic")).get_column("probability")
    assert logistic.mean() == pytest.approx(rate, abs=0.01)  # the intercept took the validation level


def test_unknown_form_is_refused(synthetic: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="form"):
        fit_stack(synthetic, form="mean")


def test_a_fold_s_weights_use_its_own_and_earlier_validation_never_later() -> None:
    """Fold 1 fits on the validation fortnights of folds 0 and 1 ("past_folds"), fold 0 on its own:
    changing fold 1's labels leaves fold 0's weights alone; "fold" uses each fold's rows only."""
    rng = np.random.default_rng(9)
    early = _frame(rng, "Bakery", 4000, (1.0, 0.0, 0.0), fold=0)  # the TCN alone explains fold 0
    late = _frame(rng, "Bakery", 4000, (0.0, 1.0, 0.0), fold=1, start=10**6)  # LightGBM alone fold 1
    both = pl.concat([early, late])
    past = fit_stack(both, form="convex", shrinkage=0.0)
    own = fit_stack(both, form="convex", shrinkage=0.0, validation="fold")
    w = {
        (f, v): t.filter((pl.col("fold") == f) & (pl.col("category") == "Bakery")).get_column("w_tcn").item()
        for v, t in (("past", past), ("own", own))
        for f in (0, 1)
    }
    assert w[(0, "past")] == w[(0, "own")] > 0.85 and w[(1, "own")] < 0.15
    assert w[(1, "own")] < w[(1, "past")] < w[(0, "past")]  # fold 1 weighs both fortnights
    assert past.filter(pl.col("fold") == 1).get_column("n_validation").max() == 8000
    flipped = pl.concat([early, late.with_columns(label=1 - pl.col("label"))])
    assert fit_stack(flipped, form="convex", shrinkage=0.0).filter(pl.col("fold") == 0).equals(past.filter(pl.col("fold") == 0))
    with pytest.raises(ValueError, match="validation"):
        fit_stack(both, validation="all")
