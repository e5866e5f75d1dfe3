"""Decision rules over predictions: per-consumer F1 cut-offs fitted on validation, applied to test.

Rules compared on the test period (all honest except `oracle_test`, labelled as optimistic):
* `consumer_cutoff` — each consumer's F1-optimal cut-off on validation (paper §3.2); consumers
  with no purchase in validation use their category's cut-off;
* `category_cutoff` — one F1-optimal cut-off per category and model, on validation;
* `expected_f1` — per consumer, the top-k items maximising expected F1 (needs no labels);
* `recent_purchase` — "bought in either of the last 2 periods" (needs the panel's recency);
* `oracle_test` — per-consumer cut-offs chosen on the test labels themselves: not a real result.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.thresholds.f1 import expected_f1_top_ks

GROUP = ["category", "model"]
HONEST = {"consumer_cutoff": True, "category_cutoff": True, "expected_f1": True, "recent_purchase": True, "oracle_test": False}


def _cutoffs(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """keys + threshold, f1: the F1-optimal cut-off of each group (best_threshold, vectorised over groups).

    Scanning each group's probabilities in descending order, F1 of "p >= this probability" is
    2 TP / (rank + positives) at the last row of each tie; the first maximum is the highest cut-off.
    """
    ranked = (
        frame.select(*keys, "probability", "label")
        .sort([*keys, "probability"], descending=[False] * len(keys) + [True])
        .with_columns(
            tp=pl.col("label").cum_sum().over(keys),
            rank=pl.int_range(1, pl.len() + 1).over(keys),
            b=pl.col("label").sum().over(keys),
            last_of_tie=(pl.col("probability") != pl.col("probability").shift(-1).over(keys)).fill_null(True),
        )
        .filter("last_of_tie")
        .with_columns(f1=2 * pl.col("tp") / (pl.col("rank") + pl.col("b")))
    )
    best = ranked.group_by(keys, maintain_order=True).agg(
        threshold=pl.col("probability").get(pl.col("f1").arg_max()), f1=pl.col("f1").max(), b=pl.col("b").first()
    )
    no_positives = pl.col("b") == 0
    return best.select(
        *keys,
        threshold=pl.when(no_positives).then(float("inf")).otherwise("threshold").cast(pl.Float64),
        f1=pl.when(no_positives).then(0.0).otherwise("f1").cast(pl.Float64),
    )


def fit_thresholds(validation: pl.DataFrame) -> pl.DataFrame:
    """Per consumer (and category, model): threshold and the rule used.

    Columns: customer_id, category, model, threshold, rule ("consumer" or "category_fallback").
    """
    category = _cutoffs(validation, GROUP).rename({"threshold": "category_threshold"}).drop("f1")
    consumer = _cutoffs(validation, ["customer_id", *GROUP])
    return (
        consumer.join(category, on=GROUP)
        .with_columns(
            rule=pl.when(pl.col("threshold").is_finite()).then(pl.lit("consumer")).otherwise(pl.lit("category_fallback")),
            threshold=pl.when(pl.col("threshold").is_finite()).then("threshold").otherwise("category_threshold"),
        )
        .select("customer_id", "category", "model", "threshold", "rule")
    )


def _expected_f1_decisions(test: pl.DataFrame) -> pl.Series:
    """1 for the items in each consumer's expected-F1-optimal top-k set (ties broken by order)."""
    keys = ["customer_id", *GROUP]
    test = test.with_row_index("__row").sort([*keys, "probability"], descending=[False] * len(keys) + [True], maintain_order=True)
    starts = np.flatnonzero(test.select(pl.struct(keys).is_first_distinct()).to_series().to_numpy())
    p, rows = test.get_column("probability").to_numpy(), test.get_column("__row").to_numpy()
    ks = expected_f1_top_ks(p, starts)  # each consumer's probabilities are already descending
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, test.height]))
    chosen = np.zeros(test.height, dtype=np.int8)
    chosen[rows[np.arange(test.height) - starts[group] < ks[group]]] = 1
    return pl.Series("predicted", chosen)


def apply_cutoffs(predictions: pl.DataFrame, recency: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """predictions: one fold's validation and test rows. Returns (thresholds, test decisions).

    Decisions columns: customer_id, item_id, category, model, label, rule, predicted.
    `recency` (customer_id, item_id, periods_since_last) enables the recent-purchase rule.
    """
    validation = predictions.filter(pl.col("split") == "validation")
    test = predictions.filter(pl.col("split") == "test")
    thresholds = fit_thresholds(validation)
    keys = ["customer_id", "item_id", "category", "model", "label"]
    by_consumer = test.join(thresholds, on=["customer_id", *GROUP], how="left")
    category = _cutoffs(validation, GROUP).select(*GROUP, category_threshold="threshold")
    by_consumer = by_consumer.join(category, on=GROUP, how="left").with_columns(
        pl.col("threshold").fill_null(pl.col("category_threshold"))  # consumers new in test
    )
    oracle = test.join(_cutoffs(test, ["customer_id", *GROUP]), on=["customer_id", *GROUP])
    parts = [
        by_consumer.select(*keys, rule=pl.lit("consumer_cutoff"), predicted=(pl.col("probability") >= pl.col("threshold"))),
        by_consumer.select(*keys, rule=pl.lit("category_cutoff"), predicted=(pl.col("probability") >= pl.col("category_threshold"))),
        oracle.select(*keys, rule=pl.lit("oracle_test"), predicted=(pl.col("probability") >= pl.col("threshold"))),
        test.select(*keys).with_columns(rule=pl.lit("expected_f1"), predicted=_expected_f1_decisions(test).cast(pl.Boolean)),
    ]
    if recency is not None:
        recent = test.filter(pl.col("model") == test.get_column("model").first()).join(recency, on=["customer_id", "item_id"], how="left")
        parts.append(
            recent.select(*keys, rule=pl.lit("recent_purchase"), predicted=pl.col("periods_since_last") <= 2).with_columns(
                model=pl.lit("rule")
            )
        )
    decisions = pl.concat([p.with_columns(pl.col("predicted").fill_null(False).cast(pl.Int8)) for p in parts])
    return thresholds, decisions


def f1_table(decisions: pl.DataFrame) -> pl.DataFrame:
    """Columns: category, model, rule, honest, rows, predicted, positives, precision, recall, f1 (micro over rows)."""
    return (
        decisions.group_by("category", "model", "rule")
        .agg(
            rows=pl.len(),
            predicted=pl.col("predicted").sum().cast(pl.Int64),
            positives=pl.col("label").sum().cast(pl.Int64),
            tp=(pl.col("predicted") * pl.col("label")).sum().cast(pl.Int64),
        )
        .with_columns(
            honest=pl.col("rule").replace_strict(HONEST, return_dtype=pl.Boolean),
            precision=pl.when(pl.col("predicted") > 0).then(pl.col("tp") / pl.col("predicted")).otherwise(0.0),
            recall=pl.when(pl.col("positives") > 0).then(pl.col("tp") / pl.col("positives")).otherwise(0.0),
            f1=2 * pl.col("tp") / (pl.col("predicted") + pl.col("positives")),
        )
        .select("category", "model", "rule", "honest", "rows", "predicted", "positives", "precision", "recall", "f1")
        .sort("category", "rule", "model")
    )


def fold_cutoffs(predictions: pl.DataFrame, recency: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Every fold's cut-offs (fitted on its validation period) and, for the folds whose decided period
    has labels, the F1 of every decision rule on it: (thresholds with `fold`, f1_table's frame with
    `fold` or None). recency: customer_id, item_id, period, ci_periods_since_last of the panel."""
    fitted, tables = [], []
    for (fold,), fold_preds in predictions.group_by("fold", maintain_order=True):
        test = fold_preds.filter(pl.col("split") == "test")
        if test.get_column("label").null_count():  # the forward plan: nothing to score yet
            fitted.append(fit_thresholds(fold_preds.filter(pl.col("split") == "validation")).with_columns(fold=pl.lit(fold, pl.Int32)))
            continue
        recent = None
        if recency is not None:
            recent = recency.filter(pl.col("period") == test.get_column("period").first()).select(
                "customer_id", "item_id", periods_since_last="ci_periods_since_last"
            )
        cut, decisions = apply_cutoffs(fold_preds, recent)
        fitted.append(cut.with_columns(fold=pl.lit(fold, pl.Int32)))
        tables.append(f1_table(decisions).with_columns(fold=pl.lit(fold, pl.Int32)))
    return pl.concat(fitted, how="diagonal_relaxed"), (pl.concat(tables) if tables else None)


def with_test_f1(metrics: pl.DataFrame, f1: pl.DataFrame) -> pl.DataFrame:
    """metrics.csv's test rows with the honest rule's precision, recall and F1 (per-consumer cut-offs
    fitted on validation), replacing any earlier ones."""
    honest = f1.filter(pl.col("rule") == "consumer_cutoff").select(
        "fold", "category", "model", pl.lit("test").alias("split"), "precision", "recall", "f1", f1_rule=pl.lit("consumer_cutoff")
    )
    return metrics.drop([c for c in ("precision", "recall", "f1", "f1_rule") if c in metrics.columns]).join(
        honest, on=["fold", "category", "model", "split"], how="left"
    )
