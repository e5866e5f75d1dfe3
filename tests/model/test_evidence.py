from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.model.evidence import _draw_counts, _metric, metric_intervals, paired_bootstrap
from offerwise.model.metrics import bce, roc_auc
from offerwise.thresholds.cutoffs import apply_cutoffs, f1_table


def _predictions(seed: int = 0, households: int = 60, items: int = 5) -> pl.DataFrame:
    """Two categories, one fold, validation and test: "good" tracks the label, "bad" is noise, "copy" = "good"."""
    rng = np.random.default_rng(seed)
    parts = []
    for split, period in (("validation", 20), ("test", 21)):
        for category in ("Bakery", "Dairy"):
            n = households * items
            label = (rng.random(n) < 0.3).astype(np.int8)
            good = np.clip(0.25 + 0.45 * label + rng.normal(0, 0.15, n), 0.01, 0.99)
            bad = rng.uniform(0.05, 0.95, n)
            base = pl.DataFrame({
                "customer_id": np.repeat(np.arange(households), items), "item_id": np.tile(np.arange(items), households) + (100 if category == "Dairy" else 0),
                "category": category, "period": pl.Series([period] * n, dtype=pl.Int32), "split": split, "label": label,
            })  # fmt: skip
            for model, p in (("good", good), ("bad", bad), ("copy", good)):
                parts.append(base.with_columns(model=pl.lit(model), probability=pl.Series(p), fold=pl.lit(0, pl.Int32)))
    return pl.concat(parts).select("customer_id", "item_id", "category", "period", "split", "model", "probability", "label", "fold")


@pytest.fixture(scope="module")
def predictions() -> pl.DataFrame:
    return _predictions()


@pytest.mark.parametrize("metric", ["bce", "roc_auc", "f1"])
def test_clearly_better_model_wins(predictions: pl.DataFrame, metric: str) -> None:
    out = paired_bootstrap(predictions, "good", "bad", metric=metric, n_boot=100)
    assert out.columns == ["fold", "category", "metric", "model_a", "model_b", "rows", "estimate", "low", "high", "verdict"]
    assert out.height == 2 and set(out.get_column("verdict")) == {"a better"}
    assert (out.get_column("estimate") < 0).all() if metric == "bce" else (out.get_column("estimate") > 0).all()
    assert (out.get_column("rows") == 300).all()
    swapped = paired_bootstrap(predictions, "bad", "good", metric=metric, n_boot=100)
    assert set(swapped.get_column("verdict")) == {"b better"}
    np.testing.assert_allclose(swapped.get_column("estimate").to_numpy(), -out.get_column("estimate").to_numpy())


@pytest.mark.parametrize("metric", ["bce", "roc_auc", "f1"])
def test_identical_models_tie(predictions: pl.DataFrame, metric: str) -> None:
    out = paired_bootstrap(predictions, "good", "copy", metric=metric, n_boot=50)
    assert (out.get_column("estimate") == 0).all() and (out.get_column("low") == 0).all() and (out.get_column("high") == 0).all()
    assert set(out.get_column("verdict")) == {"tie"}


@pytest.mark.parametrize("metric", ["bce", "roc_auc", "f1"])
def test_intervals_contain_estimate_and_are_seeded(metric: str) -> None:
    noisy = _predictions(seed=4, households=40)
    paired = paired_bootstrap(noisy, "good", "bad", metric=metric, n_boot=200, seed=3)
    assert ((paired["low"] <= paired["estimate"]) & (paired["estimate"] <= paired["high"])).all()
    assert (paired["low"] < paired["high"]).all()
    assert paired.equals(paired_bootstrap(noisy, "good", "bad", metric=metric, n_boot=200, seed=3))
    assert not paired.equals(paired_bootstrap(noisy, "good", "bad", metric=metric, n_boot=200, seed=4))
    single = metric_intervals(noisy, metric, models=["good", "bad"], n_boot=200, seed=3)
    assert single.columns == ["fold", "category", "model", "metric", "rows", "estimate", "mean", "low", "high"]
    assert single.height == 4
    assert ((single["low"] <= single["estimate"]) & (single["estimate"] <= single["high"])).all()
    assert ((single["low"] <= single["mean"]) & (single["mean"] <= single["high"])).all()
    assert single.equals(metric_intervals(noisy, metric, models=["good", "bad"], n_boot=200, seed=3))


def test_estimates_match_metrics_module(predictions: pl.DataFrame) -> None:
    test = predictions.filter((pl.col("split") == "test") & (pl.col("category") == "Bakery") & (pl.col("model") == "bad"))
    y, p = test.get_column("label").to_numpy(), test.get_column("probability").to_numpy()
    got = metric_intervals(predictions, "bce", models=["bad"], n_boot=20).filter(pl.col("category") == "Bakery")
    assert got.get_column("estimate").item() == pytest.approx(bce(y, p))
    got = metric_intervals(predictions, "roc_auc", models=["bad"], n_boot=20).filter(pl.col("category") == "Bakery")
    assert got.get_column("estimate").item() == pytest.approx(roc_auc(y, p))


def test_f1_uses_the_category_cutoff_of_apply_cutoffs(predictions: pl.DataFrame) -> None:
    _, decisions = apply_cutoffs(predictions)
    table = f1_table(decisions).filter(pl.col("rule") == "category_cutoff").select("category", "model", "f1")
    got = metric_intervals(predictions, "f1", n_boot=20).join(table, on=["category", "model"])
    assert got.height == 6
    np.testing.assert_allclose(got.get_column("estimate").to_numpy(), got.get_column("f1").to_numpy())
    # The same numbers from apply_cutoffs()'s decisions passed in directly (one rule).
    given = metric_intervals(predictions, "f1", decisions=decisions.filter(pl.col("rule") == "category_cutoff"), n_boot=20)
    np.testing.assert_allclose(given.sort("category", "model")["estimate"].to_numpy(), got.sort("category", "model")["estimate"].to_numpy())
    with pytest.raises(ValueError, match="decisions"):
        paired_bootstrap(predictions, "good", "bad", metric="f1", decisions=decisions)


@pytest.mark.parametrize("metric", ["bce", "roc_auc", "f1"])
def test_draw_equals_metric_on_replicated_rows(metric: str) -> None:
    """A draw's value equals the full-sample metric on the rows of the drawn households, repeated."""
    rng = np.random.default_rng(9)
    n, households = 400, 50
    hh = rng.integers(0, households, n)
    y = (rng.random(n) < 0.35).astype(np.int8)
    score = (rng.random(n) < 0.4).astype(float) if metric == "f1" else np.round(rng.random(n), 1)  # ties on purpose
    counts = _draw_counts(households, 5, seed=1, fold=0)
    assert (counts.sum(axis=1) == households).all()
    _, draws = _metric(metric, counts, hh, y, score)
    for b in range(5):
        reps = counts[b, hh].astype(int)
        yr, sr = np.repeat(y, reps), np.repeat(score, reps)
        expected = {"bce": bce, "roc_auc": roc_auc, "f1": lambda t, d: 2 * (t * d).sum() / (t.sum() + d.sum())}[metric](yr, sr)
        assert draws[b] == pytest.approx(expected)
    estimate, ones = _metric(metric, np.ones((1, households)), hh, y, score)
    assert ones[0] == pytest.approx(estimate)


def test_bad_arguments(predictions: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="metric"):
        paired_bootstrap(predictions, "good", "bad", metric="accuracy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model_b"):
        paired_bootstrap(predictions, "good", "nope", metric="bce")
    with pytest.raises(ValueError, match="n_boot"):
        metric_intervals(predictions, "bce", n_boot=0)
    with pytest.raises(ValueError, match="level"):
        metric_intervals(predictions, "bce", level=1.5)


@pytest.mark.parametrize("metric", ["bce", "f1"])
def test_pooled_folds_score_every_fold_s_rows_together(metric: str) -> None:
    """Two folds pooled: the estimate is the metric over both folds' test rows, each scored as in its
    own fold (F1: its own fold's cut-off), and the interval is narrower than a single fold's."""
    first, second = _predictions(seed=1), _predictions(seed=2).with_columns(fold=pl.lit(1, pl.Int32), period=pl.col("period") + 1)
    both = pl.concat([first, second])
    per_fold = paired_bootstrap(both, "good", "bad", metric=metric, n_boot=200)
    pooled = paired_bootstrap(both, "good", "bad", metric=metric, n_boot=200, pool_folds=True)
    assert per_fold.get_column("fold").to_list() == [0, 0, 1, 1] and pooled.get_column("fold").null_count() == 2
    assert (pooled.get_column("rows") == 600).all()
    for category in ("Bakery", "Dairy"):
        row = pooled.filter(pl.col("category") == category).row(0, named=True)
        folds = per_fold.filter(pl.col("category") == category)
        if metric == "bce":  # equal rows per fold: the pooled BCE difference is the folds' mean
            assert row["estimate"] == pytest.approx(folds.get_column("estimate").mean())
        else:
            assert folds.get_column("estimate").min() <= row["estimate"] <= folds.get_column("estimate").max()
        assert row["high"] - row["low"] < (folds.get_column("high") - folds.get_column("low")).min()
