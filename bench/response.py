"""Benchmark: the offer response and the policy on the project's simulator, per seed and promotion policy.

For each seed and promotion policy ("random": exogenous offers; "targeted": the retailer promotes
items after weak demand) it runs `offerwise run --data simulated` with the given config and writes,
per category and overall:
* slope error of the double-ML pair slopes (`dml_`, the default response) and of the TCN's
  counterfactual pair slopes (`tcn_`, the previous one): mean estimated / mean true slope - 1;
* their rank correlation with the true slopes, pooled and within category (mean over categories);
* their response error on the scale the decisions use (`_response_error`): the purchases one more
  offer point adds at the plan's offer, Σ slope · p̂ (1 − p̂) with the decision's probabilities,
  against Σ true_a · p (1 − p), minus 1;
* the double-ML category slope's precision against that truth: `dml_se_rel` (SE over the mean true
  slope), `dml_slope_z` (the slope error in SEs) and `dml_within_10_chance`, the chance that an
  unbiased estimate with that SE falls within ±10 % of the truth (on the 'all' row: in every
  category of the run; the product over runs is the chance over the whole benchmark);
* the same for double ML on a panel prepared without the simulator's offer_history.csv (`dml_nohistory_`:
  the offer inferred from other buyers' discounts, as on data without the retailer's record), same
  forward decision, same estimator settings;
* the backtest and forward policy scores: (ours - status quo) / (oracle - status quo) in true
  expected net revenue, the status quo being the retailer's plan, against the rules oracle (the
  plan's allowed levels) and, forward, the unconstrained oracle (`forward_score_unconstrained`);
* true retention of our offers and of the plan (the forward decision);
* the score of a flat 30 % discount to every pair, for scale;
* the backtest score of every optimisation variant (`backtest_score_<response>`), e.g. the TCN's
  counterfactual slopes against the double-ML ones on the same run.

    python bench/response.py [--seeds 7 11 12 13 14] [--policies random targeted] [--config C] [--label NAME] [--slopes-only]

--slopes-only: simulate, prepare (with and without the offer history) and estimate the forward
decision's double-ML slopes, no training or optimisation (seconds per run instead of minutes):
the slope columns only, in response-<label>-slopes.json.

--remeasure: measure the run folders of an earlier run of the same label again (after a new column
was added here), without running offerwise; the slopes without the offer history are re-estimated.

    python bench/response.py --time RUN_FOLDER [--config configs/make-run.toml]

--time: CPU and wall seconds of the offer response as `offerwise run` calls it (backtest estimate
and placebo, then the forward decision: reused under model.forward_models = "reuse", else refitted)
on a run folder's prepared panel, e.g. the Complete Journey's. CPU time (time.process_time) is the
stable measure on a shared machine: the fits are single-threaded. Writes nothing but a table.

Results: bench/results/response-<label>.json (and a table on stdout). No setting of offerwise was
chosen on seeds 13 and 14 (see docs/results.md for which were).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm, spearmanr

from offerwise import pipeline
from offerwise.config import Config
from offerwise.report.policy import true_probability

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "response"
FLAT = 30.0


def _true_p(frame: pl.DataFrame, offer: str) -> np.ndarray:
    return true_probability(frame, offer).to_numpy()


def _revenue(frame: pl.DataFrame, offer: str) -> float:
    p = _true_p(frame, offer)
    return float((p * frame.get_column("price").to_numpy() * (1 - frame.get_column(offer).to_numpy() / 100)).sum())


def _slopes(part: pl.DataFrame, column: str) -> dict[str, float]:
    within = [spearmanr(g[column], g["true_a"])[0] for _, g in part.group_by("category") if g.height > 2]
    return {
        "slope_error": float(part[column].mean() / part["true_a"].mean() - 1),
        "rank_corr_pooled": float(spearmanr(part[column], part["true_a"])[0]),
        "rank_corr_within": float(np.nanmean(within)) if within else float("nan"),
    }


def _response_error(part: pl.DataFrame, column: str) -> float:
    """The response as the decisions use it, against the truth's: the purchases one more offer point
    adds at the plan's offer, summed over the pairs, Σ slope · p̂ (1 − p̂) with the decision's
    probability p̂, over Σ true_a · p (1 − p) with the true probability, minus 1. Unlike the logit
    slope this scale is collapsible: it does not depend on how much of each pair's own propensity
    the model sees (a logit slope fitted on what the features show is flatter than each pair's own)."""
    p_hat, p = part["p_reference"].to_numpy(), _true_p(part, "reference_offer_pct")
    return float(np.sum(part[column].to_numpy() * p_hat * (1 - p_hat)) / np.sum(part["true_a"].to_numpy() * p * (1 - p)) - 1)


def _precision(part: pl.DataFrame, categories: pl.DataFrame, category: str, error: float) -> dict[str, float]:
    """How precise a category's double-ML slope is against its slope error's truth (the mean true
    slope of the decided pairs): `dml_se_rel`, the category slope's SE over that truth; `dml_slope_z`,
    the slope error in SEs (|z| > 1.645: the 90 % interval misses the truth); `dml_within_10_chance`,
    the chance that an unbiased estimate with this SE lies within ±10 % of the truth,
    Φ(0.1 / se_rel) − Φ(−0.1 / se_rel)."""
    se_rel = categories.filter(pl.col("category") == category).get_column("se").item() / part.get_column("true_a").mean()
    chance = float(norm.cdf(0.1 / se_rel) - norm.cdf(-0.1 / se_rel))
    return {"dml_se_rel": float(se_rel), "dml_slope_z": error / se_rel, "dml_within_10_chance": chance}


def _variant_scores(out: Path, policy: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Backtest score of every optimisation variant (optimize/variants), per category and 'all'."""
    truth = pl.read_parquet(out / "data" / "ground_truth.parquet")
    last = truth.get_column("period_start").max()  # the backtest decides the last fortnight of the data
    truth = truth.filter(pl.col("period_start") == last).select("customer_id", "item_id", "true_a", "true_b")
    back = policy.filter(pl.col("decision") == "backtest")
    scores: dict[str, dict[str, float]] = {}
    for path in sorted((out / "optimize" / "variants").glob("offers_*_expected.parquet")):
        offers = pl.read_parquet(path).join(truth, on=["customer_id", "item_id"])
        for category in [*offers.get_column("category").unique().to_list(), "all"]:
            part = offers if category == "all" else offers.filter(pl.col("category") == category)
            value = lambda name: back.filter((pl.col("category") == category) & (pl.col("policy") == name)).get_column(
                "true_expected_revenue"
            )  # noqa: E731
            oracle, status_quo = value("rules oracle"), value("status quo")
            if oracle.len():
                ours = _revenue(part, "recommended_offer_pct")
                scores.setdefault(category, {})[path.stem.removeprefix("offers_").removesuffix("_expected")] = (
                    ours - status_quo.item()
                ) / (oracle.item() - status_quo.item())
    return scores


def without_history(out: Path, cfg: Config) -> pl.DataFrame:
    """The forward decision's double-ML pair slopes from a panel prepared without offer_history.csv:
    customer_id, item_id, dml_nohistory_slope."""
    cfg = cfg.override("data", use_offer_history=False)
    folder = out / "no-offer-history"
    pipeline.prepare(str(out / "data"), folder / "prepared", cfg)
    p = pipeline.read_prepared(folder / "prepared")
    slopes = pipeline.offer_response(p, p.forward_fold, folder, cfg.response.model_copy(update={"placebo": False}))
    return slopes.select("customer_id", "item_id", dml_nohistory_slope="dml_slope")


def measure(out: Path, cfg: Config | None = None) -> list[dict]:
    """Rows per category (and 'all') of the forward decision, plus the policy scores (and, given the
    run's cfg, the slopes without the offer history)."""
    truth = pl.read_parquet(out / "data" / "ground_truth_future.parquet").select("customer_id", "item_id", "true_a", "true_b")
    plan = pl.read_parquet(out / "recommendations" / "offers.parquet")
    if "plan_offer_pct" in plan.columns:  # the plan is scored, not its experiment (holdout, exploration)
        plan = plan.with_columns(recommended_offer_pct=pl.col("plan_offer_pct"))
    slopes = pl.read_parquet(out / "recommendations" / "pair_elasticity.parquet")
    slopes = slopes.select("customer_id", "item_id", "pair_slope", *[c for c in ("dml_slope",) if c in slopes.columns])
    if cfg is not None and "dml_slope" in slopes.columns:
        slopes = slopes.join(without_history(out, cfg), on=["customer_id", "item_id"], how="left")
    frame = plan.join(truth, on=["customer_id", "item_id"]).join(slopes, on=["customer_id", "item_id"]).with_columns(flat=pl.lit(FLAT))
    policy = pl.read_csv(out / "report" / "policy_score.csv")
    variants = _variant_scores(out, policy)
    categories = pl.read_csv(out / "recommendations" / "response.csv").with_columns(pl.col("category").cast(pl.String))
    rows, chances = [], []
    for category in [*sorted(frame.get_column("category").unique().to_list()), "all"]:
        part = frame if category == "all" else frame.filter(pl.col("category") == category)
        score = policy.filter(pl.col("category") == category)
        value = lambda decision, name, column: score.filter((pl.col("decision") == decision) & (pl.col("policy") == name)).get_column(
            column
        )  # noqa: E731
        oracle, status_quo = (
            value("forward", "rules oracle", "true_expected_revenue"),
            value("forward", "status quo", "true_expected_revenue"),
        )
        flat = (_revenue(part, "flat") - status_quo.item()) / (oracle.item() - status_quo.item()) if oracle.len() else float("nan")
        row = {"category": category, "pairs": part.height}
        for name, column in (("dml", "dml_slope"), ("dml_nohistory", "dml_nohistory_slope"), ("tcn", "pair_slope")):
            if column in part.columns:
                row |= {f"{name}_{k}": v for k, v in _slopes(part, column).items()}
                row[f"{name}_response_error"] = _response_error(part, column)
        if "dml_slope_error" in row and category != "all":
            row |= _precision(part, categories, category, row["dml_slope_error"])
            chances.append(row["dml_within_10_chance"])
        elif chances:  # 'all': the chance of ±10 % in every category of the run
            row["dml_within_10_chance"] = float(np.prod(chances))
        row |= {
            "backtest_score": _one(value("backtest", "ours", "score")),
            "forward_score": _one(value("forward", "ours", "score")),
            "forward_score_unconstrained": _one(value("forward", "ours", "score_unconstrained")),
            "true_retention": float(_true_p(part, "recommended_offer_pct").mean()),
            "true_retention_plan": float(_true_p(part, "reference_offer_pct").mean()),
            "flat_30_score": flat,
            **{f"backtest_score_{k}": v for k, v in variants.get(category, {}).items()},
        }
        rows.append(row)
    return rows


def measure_slopes(out: Path, cfg: Config) -> list[dict]:
    """--slopes-only: the forward decision's double-ML slope errors with and without the offer history,
    per category and 'all', plus the category slope's SE and the estimator's identification columns."""
    from offerwise.data.simulate import simulate
    from offerwise.data.simulate_frames import write_simulation

    write_simulation(simulate(cfg.simulation), out / "data", cfg.simulation)
    pipeline.prepare(str(out / "data"), out / "prepared", cfg)
    p = pipeline.read_prepared(out / "prepared")
    with_history = pipeline.offer_response(p, p.forward_fold, out, cfg.response.model_copy(update={"placebo": False}))
    truth = pl.read_parquet(out / "data" / "ground_truth_future.parquet").select("customer_id", "item_id", "true_a")
    frame = (
        with_history.join(without_history(out, cfg), on=["customer_id", "item_id"], how="left")
        .join(p.frame.filter(pl.col("period") == p.decided_period(p.forward_fold)).select("customer_id", "item_id", "category"), on=["customer_id", "item_id"])
        .join(truth.cast({"customer_id": with_history.schema["customer_id"], "item_id": with_history.schema["item_id"]}), on=["customer_id", "item_id"])
        .with_columns(pl.col("category").cast(pl.String))
    )  # fmt: skip
    categories = pl.read_csv(out / "response.csv").select("category", "se", "identified", "offer_resid_sd", "offer_within_sd", "n_rows")
    rows = []
    for category in [*sorted(frame.get_column("category").unique().to_list()), "all"]:
        part = frame if category == "all" else frame.filter(pl.col("category") == category)
        row = {"category": category, "pairs": part.height, "true_slope_mean": float(part["true_a"].mean())}
        for name, column in (("dml", "dml_slope"), ("dml_nohistory", "dml_nohistory_slope")):
            row |= {f"{name}_{k}": v for k, v in _slopes(part, column).items()}
        info = categories.filter(pl.col("category") == category)
        if info.height:
            row |= {"dml_se_rel": float(info["se"].item() / part["true_a"].mean()), **info.drop("category", "se").row(0, named=True)}
        rows.append(row)
    return rows


def _one(series: pl.Series) -> float:
    return float(series.item()) if series.len() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 12, 13, 14])
    parser.add_argument("--policies", nargs="+", default=["random", "targeted"])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--label", default="default")
    parser.add_argument("--slopes-only", action="store_true")
    parser.add_argument("--time", type=Path, default=None, metavar="RUN_FOLDER")
    parser.add_argument("--remeasure", action="store_true", help="measure the label's existing run folders again, without running them")
    args = parser.parse_args()
    if args.time is not None:
        return time_response(args.time, Config.from_toml(args.config))
    if args.slopes_only:
        return slopes_only(args)
    base = Config.from_toml(args.config)
    results = []
    for policy in args.policies:
        for seed in args.seeds:
            cfg = base.override("simulation", seed=seed, promotion_policy=policy)
            out = WORK / args.label / f"{policy}-{seed}"
            started = time.perf_counter()
            if not args.remeasure:
                pipeline.run("simulated", out, cfg, log=lambda m: None)
            rows = measure(out, cfg)
            results += [{"policy": policy, "seed": seed, "seconds": round(time.perf_counter() - started), **r} for r in rows]
            overall = rows[-1]
            print(f"{policy:8} seed {seed:3}: backtest {overall['backtest_score']:.3f}  forward {overall['forward_score']:.3f}  "
                  f"flat-30 {overall['flat_30_score']:.3f}  backtest counterfactual {overall.get('backtest_score_counterfactual', float('nan')):.3f}  "
                  f"retention {overall['true_retention']:.3f} (plan {overall['true_retention_plan']:.3f})  "
                  + "  ".join(f"{m}: error {overall[f'{m}_slope_error']:+.0%} response {overall[f'{m}_response_error']:+.0%} rank {overall[f'{m}_rank_corr_pooled']:.2f}/{overall[f'{m}_rank_corr_within']:.2f}"
                              for m in ("dml", "dml_nohistory", "tcn") if f"{m}_slope_error" in overall), flush=True)  # fmt: skip
            RESULTS.mkdir(parents=True, exist_ok=True)  # after every run: a long benchmark keeps what it measured
            (RESULTS / f"response-{args.label}.json").write_text(json.dumps({"config": str(args.config), "rows": results}, indent=1) + "\n")
    table = pl.DataFrame(results)
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(table.drop("seconds"))
    if "dml_se_rel" in table.columns:
        print_precision(table)


def print_precision(table: pl.DataFrame) -> None:
    """Per policy: categories whose double-ML slope is within ±10 % of the truth, against what an
    unbiased estimate with the same SEs would reach, and the 90 % intervals' coverage of the truth."""
    for (policy,), part in table.filter(pl.col("category") != "all").group_by("policy", maintain_order=True):
        error, z = part.get_column("dml_slope_error"), part.get_column("dml_slope_z")
        print(
            f"{policy:8} within ±10 %: {(error.abs() <= 0.1).sum()} of {part.height}; an unbiased estimate with these SEs: "
            f"{part.get_column('dml_within_10_chance').sum():.1f} expected, all {part.height} with chance "
            f"{part.get_column('dml_within_10_chance').product():.2f}; SE / true slope {part.get_column('dml_se_rel').mean():.3f}; "
            f"90 % intervals cover the truth in {(z.abs() <= 1.645).sum()} of {part.height} (z SD {z.std():.2f})"
        )


def time_response(run: Path, cfg: Config) -> None:
    p = pipeline.read_prepared(run / "prepared")
    scratch = WORK / "time"
    reuse = {"reuse": scratch / "backtest"} if cfg.model.forward_models == "reuse" else {}
    total = [0.0, 0.0]
    for name, fold, extra in (("backtest", p.last_backtest_fold, {}), ("forward", p.forward_fold, reuse)):
        (scratch / name).mkdir(parents=True, exist_ok=True)
        cpu, wall = time.process_time(), time.perf_counter()
        pipeline.offer_response(p, fold, scratch / name, cfg.response, **extra)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        total = [total[0] + cpu, total[1] + wall]
        print(f"{name:9} cpu {cpu:6.1f} s  wall {wall:6.1f} s{'  (reused)' if extra else ''}", flush=True)
    print(f"{'total':9} cpu {total[0]:6.1f} s  wall {total[1]:6.1f} s")


def slopes_only(args: argparse.Namespace) -> None:
    base, results = Config.from_toml(args.config), []
    for policy in args.policies:
        for seed in args.seeds:
            cfg = base.override("simulation", seed=seed, promotion_policy=policy)
            started = time.perf_counter()
            rows = measure_slopes(WORK / f"{args.label}-slopes" / f"{policy}-{seed}", cfg)
            results += [{"policy": policy, "seed": seed, "seconds": round(time.perf_counter() - started), **r} for r in rows]
            print(f"{policy:8} seed {seed:3}: " + "  ".join(
                f"{r['category']} {r['dml_slope_error']:+.0%} (no history {r['dml_nohistory_slope_error']:+.0%})" for r in rows), flush=True)  # fmt: skip
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"response-{args.label}-slopes.json").write_text(
                json.dumps({"config": str(args.config), "rows": results}, indent=1) + "\n"
            )


if __name__ == "__main__":
    main()
