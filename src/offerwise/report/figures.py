"""The paper's figures (3-6) as matplotlib figures, each returned as PNG bytes."""

from __future__ import annotations

import io as _io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from offerwise.elasticity.sigmoid import sigmoid  # noqa: E402


def _png(fig) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(n: int, width: float = 3.6, height: float = 2.8):
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def figure3_eda(transactions: pl.DataFrame, items: pl.DataFrame) -> bytes:
    """Category sales share; density of transactions by offer %; by basket size."""
    tx = transactions.join(items.select("item_id", "category"), on="item_id")
    share = tx.group_by("category").agg(pl.col("paid").sum()).sort("paid", descending=True).head(12)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].barh(share["category"].to_list()[::-1], (share["paid"] / tx["paid"].sum() * 100).to_list()[::-1], color="#4C72B0")
    axes[0].set_xlabel("share of sales (%)")
    axes[0].set_title("Category-wise sales distribution")
    offers = tx.filter(pl.col("offer_pct") > 0)["offer_pct"].to_numpy()
    axes[1].hist(offers, bins=40, range=(0, 100), density=True, color="#55A868")
    axes[1].set_xlabel("offer % (discounted lines)")
    axes[1].set_title("Transactions by offer %")
    basket = (
        pl.when(pl.col("basket_id").is_not_null())
        .then(pl.col("basket_id").cast(pl.String))
        .otherwise(pl.col("customer_id").cast(pl.String) + pl.col("timestamp").dt.date().cast(pl.String))
    )
    sizes = tx.group_by(basket.alias("b")).len()["len"].to_numpy()
    axes[2].hist(np.clip(sizes, 0, 80), bins=40, density=True, color="#C44E52")
    axes[2].set_xlabel("lines per basket (capped at 80)")
    axes[2].set_title("Transactions by basket size")
    return _png(fig)


def figure4_elasticity(pairs: pl.DataFrame, fits: pl.DataFrame) -> bytes:
    """Per category: model probability against offer % (bin means) with both fitted sigmoids."""
    cats = sorted(pairs["category"].unique().to_list())
    fig, axes = _grid(len(cats))
    x = np.linspace(0, 60, 121)
    for ax, cat in zip(axes, cats):
        rows = pairs.filter(pl.col("category") == cat)
        bins = rows.group_by((pl.col("offer_pct") / 5).floor() * 5 + 2.5).agg(pl.col("probability").mean(), pl.len()).sort("offer_pct")
        ax.scatter(
            bins["offer_pct"],
            bins["probability"],
            s=np.clip(bins["len"].to_numpy() / 5, 8, 80),
            alpha=0.6,
            label="model, historical offers",
        )
        for source, style in (("model_at_historical_offers", "-"), ("counterfactual", "--")):
            fit = fits.filter((pl.col("category") == cat) & (pl.col("source") == source))
            if fit.height and np.isfinite(fit["a"][0]):
                a, b, r2 = fit["a"][0], fit["b"][0], fit["r2"][0]
                ax.plot(x, sigmoid(x, a, b), style, label=f"{source.split('_')[0]}: 1/(1+e^-({a:.3f}x{b:+.2f})), R²={r2:.2f}")
        ax.set_title(cat, fontsize=9)
        ax.set_xlabel("offer %")
        ax.set_ylabel("purchase probability")
        ax.legend(fontsize=6)
    return _png(fig)


def figure5_probabilities(predictions: pl.DataFrame, thresholds: pl.DataFrame) -> bytes:
    """Predicted probability distributions by label (validation), and the per-consumer cut-offs."""
    tcn = predictions.filter((pl.col("model") == "tcn") & (pl.col("split") == "validation"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, label in zip(axes[:2], (0, 1)):
        ax.hist(
            tcn.filter(pl.col("label") == label)["probability"].to_numpy(),
            bins=50,
            range=(0, 1),
            density=True,
            color="#4C72B0" if label == 0 else "#DD8452",
        )
        ax.set_title(f"Predicted probability, label = {label}")
        ax.set_xlabel("probability")
    cut = thresholds.filter((pl.col("model") == "tcn") & (pl.col("rule") == "consumer"))["threshold"].to_numpy()
    axes[2].hist(cut[np.isfinite(cut)], bins=50, range=(0, 1), density=True, color="#8172B3")
    axes[2].set_title("Per-consumer cut-off after F1 maximisation")
    axes[2].set_xlabel("cut-off")
    return _png(fig)


def figure6_offers(offers: pl.DataFrame) -> bytes:
    """Distribution of recommended offers per category."""
    cats = sorted(offers["category"].unique().to_list())
    fig, axes = _grid(len(cats))
    for ax, cat in zip(axes, cats):
        rows = offers.filter(pl.col("category") == cat)
        ax.hist(rows["recommended_offer_pct"].to_numpy(), bins=24, range=(0, 120), color="#55A868", alpha=0.8, label="recommended")
        ax.hist(rows["reference_offer_pct"].to_numpy(), bins=24, range=(0, 120), histtype="step", color="black", label="reference")
        ax.set_title(cat, fontsize=9)
        ax.set_xlabel("offer %")
        ax.legend(fontsize=7)
    return _png(fig)


def figure_slopes(pairs: pl.DataFrame) -> bytes:
    """Per category: each pair's estimated offer slope against its true one (simulated data), for the
    double-ML estimate and the TCN's counterfactual slope, with the category means and y = x."""
    cats = sorted(pairs["category"].unique().to_list())
    fig, axes = _grid(len(cats), width=3.4, height=3.0)
    routes = [
        (c, label, colour)
        for c, label, colour in (("dml_slope", "double ML", "#C44E52"), ("pair_slope", "TCN counterfactual", "#8C8C8C"))
        if c in pairs.columns
    ]
    for ax, cat in zip(axes, cats):
        rows = pairs.filter(pl.col("category") == cat)
        truth = rows["true_a"].to_numpy()
        for column, label, colour in routes:
            est = rows[column].to_numpy()
            ax.scatter(truth, est, s=4, alpha=0.25, color=colour, label=f"{label} (mean {est.mean():.3f})")
        top = float(max(truth.max(), *(rows[c].max() for c, _, _ in routes)))
        ax.plot([0, top], [0, top], color="black", lw=0.8, ls="--")
        ax.axvline(truth.mean(), color="black", lw=0.6, ls=":", label=f"true mean {truth.mean():.3f}")
        ax.set_title(cat, fontsize=9)
        ax.set_xlabel("true slope (logit per offer point)")
        ax.set_ylabel("estimated slope")
        ax.legend(fontsize=6)
    return _png(fig)
