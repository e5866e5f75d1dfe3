"""Reliability of predicted purchase probabilities on the test split: table and figure (PNG bytes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from offerwise.report.figures import _grid, _png  # noqa: E402

DECILES = 10


def _with_truth(test: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    need = {"customer_id", "item_id", "true_probability"} - set(truth.columns)
    if need:
        raise ValueError(f"truth: missing column(s) {sorted(need)}")
    keys = ["customer_id", "item_id", *(["period"] if "period" in truth.columns and "period" in test.columns else [])]
    truth = truth.select(*keys, "true_probability")
    if truth.select(pl.struct(keys).is_duplicated().any()).item():
        raise ValueError(f"truth: several rows per {tuple(keys)}; give one per pair (or add a period column)")
    return test.join(truth.cast({k: test.schema[k] for k in keys}), on=keys, how="left")


def reliability_table(
    predictions: pl.DataFrame, model: str = "stack", *, truth: pl.DataFrame | None = None, fold: int | None = None
) -> pl.DataFrame:
    """Per category, the test rows of `model` cut into deciles of predicted probability (equal row counts).

    Test rows of all folds are pooled unless `fold` is given. Columns: category, decile (1 = lowest
    predictions), mean_predicted, realised_rate (mean label), rows; plus mean_true (mean of the
    simulator's true_probability) when `truth` (customer_id, item_id, true_probability[, period]) is given.
    """
    test = predictions.filter((pl.col("split") == "test") & (pl.col("model") == model))
    if fold is not None:
        if "fold" not in test.columns:
            raise ValueError("fold: predictions have no fold column")
        test = test.filter(pl.col("fold") == fold)
    if test.height == 0:
        raise ValueError(f"model: no test rows for model {model!r}" + (f" in fold {fold}" if fold is not None else ""))
    if truth is not None:
        test = _with_truth(test, truth)
    decile = ((pl.col("probability").rank("ordinal").over("category") - 1) * DECILES // pl.len().over("category") + 1).cast(pl.Int32)
    extra = [pl.col("true_probability").mean().alias("mean_true")] if truth is not None else []
    return (
        test.with_columns(decile=decile)
        .group_by("category", "decile")
        .agg(
            mean_predicted=pl.col("probability").mean(),
            realised_rate=pl.col("label").cast(pl.Float64).mean(),
            rows=pl.len().cast(pl.Int64),
            *extra,
        )
        .sort("category", "decile")
    )


def reliability_figure(
    predictions: pl.DataFrame, *, model: str = "stack", truth: pl.DataFrame | None = None, fold: int | None = None
) -> bytes:
    """Per category: realised purchase rate (and the simulator's true mean, given `truth`) against the
    mean predicted probability by decile on the test split, with the diagonal for reference. PNG bytes."""
    table = reliability_table(predictions, model, truth=truth, fold=fold)
    cats = table.get_column("category").unique().sort().to_list()
    fig, axes = _grid(len(cats))
    for ax, cat in zip(axes, cats):
        rows = table.filter(pl.col("category") == cat)
        x = rows.get_column("mean_predicted").to_numpy()
        shown = [x, rows.get_column("realised_rate").to_numpy()] + ([rows.get_column("mean_true").to_numpy()] if truth is not None else [])
        top = min(1.0, 1.08 * max(float(np.nanmax(v)) for v in shown) + 1e-3)
        ax.plot([0, top], [0, top], ":", color="grey", lw=1, label="perfect calibration")
        ax.plot(x, shown[1], "o-", color="#4C72B0", ms=4, label="realised rate")
        if truth is not None:
            ax.plot(x, shown[2], "s--", color="#DD8452", ms=4, label="true mean (simulator)")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(f"{cat} · {int(rows.get_column('rows').sum()):,} rows", fontsize=9)
        ax.set_xlabel("mean predicted probability (decile)")
        ax.set_ylabel("purchase rate")
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(f"Reliability on the test period: {model}", fontsize=10)
    return _png(fig)
