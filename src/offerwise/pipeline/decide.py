"""The decision stages' runners: offer response (elasticity), offers (optimize), the forward plan (recommend)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import polars as pl

from offerwise import io
from offerwise.columns import OFFER_DESIGN, PAIR
from offerwise.config import ExperimentConfig, OptimizeConfig, OptionError, ResponseConfig, RuntimeConfig
from offerwise.elasticity.dml import ResponseEstimate
from offerwise.elasticity.scores import pair_scores_of_curves, pair_scores_of_shard
from offerwise.elasticity.stage import cross_effects, decision_response, response_rows
from offerwise.elasticity.stage import offer_response as stage_offer_response
from offerwise.errors import InputError
from offerwise.experiment.arms import experiment_key
from offerwise.experiment.design import experiment as plan_experiment
from offerwise.features.shards import panel_parts
from offerwise.optimize.inputs import optimization_inputs
from offerwise.optimize.levels import category_levels, offers_known_at
from offerwise.optimize.offers import optimize_all
from offerwise.optimize.problem import pair_slope_frame
from offerwise.optimize.recommendations import recommendation_tables
from offerwise.optimize.shards import ShardedSolver
from offerwise.pipeline.folders import (
    EXPERIMENT,
    LEVELS,
    OFFER_RULES,
    OUTSIDE_ITEMS,
    Prepared,
    check_made_from,
    evaluated_curves,
    read_prepared,
    rounded_csv,
    silent,
    stack_inputs,
    stage_folder,
    stamp_made_from,
    training_entries,
)
from offerwise.runtime import Runtime


def elasticity(
    panel: Path,
    models: Path,
    out: Path,
    *,
    fold: int | None = None,
    evaluation: Path | None = None,
    decision_model: str = "tcn",
    response: ResponseConfig | None = None,
    runtime: RuntimeConfig | None = None,
    response_from: Path | None = None,
    log: Callable[[str], None] = silent,
) -> pl.DataFrame:
    """Category sigmoids and per-pair slopes for one decision (default: the last backtest fold), with
    the double-ML offer response when `response` is given: elasticity.csv, pair_elasticity.parquet
    and the response files (offer_response). With decision_model "stack" (weights and LightGBM's
    probabilities from `evaluation`) each pair's probabilities and slope are the stack's.
    `response_from`: reuse that folder's offer-response estimate. Returns the fits."""
    shards = panel_parts(panel)
    p = read_prepared(panel, rows=not shards or response is not None)  # the double-ML estimate reads rows itself
    fold = p.decision_fold(fold)
    check_made_from(models, p, panel, "training.json")
    if evaluation is not None:
        check_made_from(evaluation, p, panel)
    status_quo = p.status_quo_of(fold)
    stack = stack_inputs(evaluation, fold) if decision_model == "stack" else None
    entries = [e for e in training_entries(models) if e["fold"] == fold]
    shared = {"entries": entries, "models": models, "splits": p.splits, "fold": fold, "status_quo": status_quo}
    if (curves := evaluated_curves(evaluation, models, fold)) is not None:  # evaluate's pass scored them already
        parts = [pair_scores_of_curves(curves, entries=entries, fold=fold)]
    elif shards:  # each shard scores its pairs; the category fits need them all
        parts = Runtime(runtime, progress=log).map(pair_scores_of_shard, shards, shared=shared, what="elasticity shards")
    else:
        parts = [pair_scores_of_shard(p.frame, **shared)]
    decided = p.decided_period(fold)
    dml = None if response is None else _response_inputs(p, fold, response, response_from, log)
    result = decision_response(parts, status_quo, decided=decided, stack=stack, response=dml, log=log)
    if not result.fits.height:
        raise InputError(f"{models}: no models for fold {fold}; run `offerwise train` on this panel first.")
    if result.estimate is not None:
        _write_response(out, result.estimate, result.placebo)
    _write_cross(out, result.cross, result.cross_placebo)
    io.write_csv(result.fits, out / "elasticity.csv")
    io.write_parquet(result.pairs, out / "pair_elasticity.parquet")
    stamp_made_from(out, p, panel)
    return result.fits


def _response_inputs(p: Prepared, fold: int, cfg: ResponseConfig, reuse: Path | None, log: Callable[[str], None]) -> dict:
    """offer_response's arguments for decision `fold`: its rows, and the estimate in `reuse` (read here) if given.
    `reuse` is the decision a fortnight earlier, which did not see the cutoff period: where that period's
    offers were randomised (a measured plan's experiment) the estimate is made afresh, so the next plan
    learns from the experiment at once, not one plan later (docs/response.md)."""
    cutoff = p.decided_period(fold) - 1
    design_columns = [c for c in ("relevant_from_fold", "period", OFFER_DESIGN) if c in p.frame.columns]  # all randomised_in reads
    if reuse is not None and randomised_in(response_rows(p.frame.select(design_columns), fold, cutoff), cutoff):
        log("offer response (double ML): estimated afresh, with the last fortnight's randomised offers")
        reuse = None
    estimate = None
    if reuse is not None:
        log(f"offer response (double ML): reused from {reuse}")
        estimate = ResponseEstimate.from_dict(io.read_json(reuse / "response_estimate.json", rerun=io.rerun("elasticity", reuse)))
    cross = None
    if reuse is not None and (reuse / CROSS).is_file():
        cross = io.read_csv(
            reuse / CROSS, rerun=io.rerun("elasticity", reuse), require=["category", "cross_slope"], numeric=["cross_slope", "high"]
        )
    # Both reused: the pairs' slopes read the decided period's rows alone (a copy of every period's takes seconds).
    rows = response_rows(p.frame, fold, cutoff, decided_only=estimate is not None and cross is not None)
    return {
        "cross": cross,
        "rows": rows,
        "features": p.features,
        "cutoff": cutoff,
        "cfg": cfg,
        "estimate": estimate,
        "with_placebo": cfg.placebo and fold != p.forward_fold,
    }


def randomised_in(rows: pl.DataFrame, period: int) -> bool:
    """Whether a randomised design drew any of `period`'s offers (offer history's expected_offer_pct)."""
    return OFFER_DESIGN in rows.columns and rows.select(((pl.col("period") == period) & pl.col(OFFER_DESIGN).is_not_null()).any()).item()


def _write_response(out: Path, estimate: ResponseEstimate, permuted: pl.DataFrame | None) -> None:
    io.write_csv(estimate.categories, out / "response.csv")
    io.write_csv(estimate.groups, out / "response_groups.csv")
    io.write_json(estimate.to_dict(), out / "response_estimate.json")
    if permuted is not None:
        io.write_csv(permuted, out / "response_placebo.csv")


CROSS, CROSS_PLACEBO = "cross_response.csv", "cross_response_placebo.csv"


def _write_cross(out: Path, cross: pl.DataFrame | None, permuted: pl.DataFrame | None) -> None:
    for table, name in ((cross, CROSS), (permuted, CROSS_PLACEBO)):
        if table is not None:
            io.write_csv(table, out / name)


def offer_response(
    p: Prepared, fold: int, out: Path, cfg: ResponseConfig, *, reuse: Path | None = None, log: Callable[[str], None] = silent
) -> pl.DataFrame:
    """The double-ML offer response alone for decision `fold` of a prepared panel (elasticity's, without
    the model's fits): response.csv (category slopes with intervals), response_groups.csv,
    response_estimate.json, response_placebo.csv (backtest folds, when cfg.placebo). Returns
    customer_id, item_id, dml_slope, dml_slope_sd, dml_slope_category_se of the decided pairs."""
    inputs = _response_inputs(p, fold, cfg, reuse, log)
    cross = inputs.pop("cross")
    estimate, permuted, slopes = stage_offer_response(**inputs, log=log)
    _write_response(out, estimate, permuted)
    keys = ("rows", "features", "cutoff", "cfg", "with_placebo")
    _write_cross(out, *cross_effects(**{k: inputs[k] for k in keys}, cross=cross, log=log))
    return slopes


def _variants(cfg: OptimizeConfig, compare: bool) -> list[OptimizeConfig]:
    others = [
        cfg.model_copy(update={"response": r, "objective": o})
        for r in ("linear", "sigmoid", "counterfactual", "dml")
        for o in ("indicator", "expected")
    ]
    return [cfg] + ([v for v in others if (v.response, v.objective) != (cfg.response, cfg.objective)] if compare else [])


def optimize(
    panel: Path,
    evaluation: Path,
    response_folder: Path,
    out: Path,
    cfg: OptimizeConfig,
    *,
    fold: int | None = None,
    compare: bool = False,
    decision_model: str = "tcn",
    runtime: RuntimeConfig | None = None,
    log: Callable[[str], None] = silent,
) -> pl.DataFrame:
    """Offers for one decision: `evaluation` holds thresholds.parquet, `response_folder` (the elasticity stage's folder) the decision's
    elasticity.csv and pair_elasticity.parquet. offers.{parquet,csv}, optimization_summary.csv.
    With runtime shards > 1 or engine "ray", the Lagrangian solver runs over consumer shards."""
    return _optimized(
        panel, evaluation, response_folder, out, cfg, fold=fold, compare=compare, decision_model=decision_model, runtime=runtime, log=log
    )[0]


def _optimized(
    panel: Path,
    evaluation: Path,
    response_folder: Path,
    out: Path,
    cfg: OptimizeConfig,
    *,
    fold: int | None,
    compare: bool,
    decision_model: str,
    runtime: RuntimeConfig | None,
    log: Callable[[str], None],
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """optimize, also returning the decision's inputs and levels (the forward plan's experiment needs them)."""
    stage_folder(evaluation, "evaluation", "evaluate")
    for path in (evaluation / "thresholds.parquet", response_folder / "elasticity.csv", response_folder / "pair_elasticity.parquet"):
        if not path.is_file():
            raise InputError(f"{path}: missing; run `offerwise thresholds` and `offerwise elasticity` first.")
    inputs, levels = decision_inputs(panel, evaluation, response_folder, cfg, fold=fold, decision_model=decision_model)
    variants = [v for v in _variants(cfg, compare) if v.response != "dml" or "dml_slope" in inputs.columns]
    summary, by_variant, failures = [], {}, []
    sharded = runtime is not None and (runtime.shards > 1 or runtime.engine == "ray")
    is_main = lambda v: (v.response, v.objective) == (cfg.response, cfg.objective)  # noqa: E731
    solve = lambda v, solver: optimize_all(inputs, v, levels, sharded=solver, without_rules=is_main(v))  # noqa: E731
    with ShardedSolver(runtime) if sharded else nullcontext() as solver:
        if solver is None:  # the variants are independent and their time is numpy's: side by side on two threads
            with ThreadPoolExecutor(max_workers=2) as pool:
                solved = list(pool.map(lambda v: solve(v, None), variants))
        else:
            solved = [solve(v, solver) for v in variants]
        for variant, results in zip(variants, solved, strict=True):
            main = is_main(variant)
            for chosen, row in results:
                summary.append(row)
                if chosen is not None:
                    by_variant.setdefault(f"{variant.response}_{variant.objective}", []).append(chosen)
                if row["status"] != "ok":
                    log(f"{row['category']} ({variant.response}, {variant.objective}): {row['status']}")
                    if main:
                        failures.append(str(row["status"]))
    default = by_variant.get(f"{cfg.response}_{cfg.objective}")
    if not default:
        raise _unoptimised(cfg, failures)
    result = pl.concat(default)
    io.write_parquet(result, out / "offers.parquet")
    io.write_csv(rounded_csv(result.drop("binding")), out / "offers.csv")
    for name, parts in by_variant.items() if compare else ():  # every variant's offers, for scoring against a simulator's truth
        io.write_parquet(pl.concat(parts), out / "variants" / f"offers_{name}.parquet")
    table = pl.DataFrame(summary, infer_schema_length=None)
    io.write_csv(table, out / "optimization_summary.csv")
    io.write_json({c: lv.to_dict() for c, lv in levels.items()}, out / LEVELS)
    return table, inputs, levels


def decision_inputs(
    panel: Path, evaluation: Path, response_folder: Path, cfg: OptimizeConfig, *, fold: int | None = None, decision_model: str = "tcn"
) -> tuple[pl.DataFrame, dict]:
    """One decision's optimiser inputs (optimize.inputs) and each category's offer levels (optimize.levels)."""
    p = read_prepared(panel)
    fold = p.decision_fold(fold)
    for folder in {evaluation, response_folder}:
        check_made_from(folder, p, panel)
    rerun_hint = io.rerun("elasticity", response_folder)
    pair_elasticity = io.read_parquet(response_folder / "pair_elasticity.parquet", rerun=rerun_hint, require=[*PAIR, "period"])
    _check_decision_inputs(p, fold, pair_elasticity, response_folder)
    inputs = optimization_inputs(
        p.frame,
        pair_elasticity,
        io.read_parquet(evaluation / "thresholds.parquet", rerun=io.rerun("thresholds", evaluation)),
        io.read_csv(response_folder / "elasticity.csv", rerun=rerun_hint),
        fold=fold,
        model=decision_model,
        outside=_outside_items(panel, fold),
    )
    return inputs, category_levels(inputs, offers_known_at(p.frame, fold, p.decided_period(fold) - 1), cfg, _offer_rules(panel))


def _outside_items(panel: Path, fold: int) -> pl.DataFrame | None:
    """The fold's purchases outside its items per consumer-category (prepare wrote them); None from an older prepare."""
    path = panel / OUTSIDE_ITEMS
    if not path.is_file():
        return None
    return io.read_parquet(path, rerun=io.rerun("prepare", panel)).filter(pl.col("fold") == fold).drop("fold")


def _offer_rules(panel: Path) -> pl.DataFrame | None:
    """The retailer's offer rules that `prepare` validated (category, levels), None without a rules file."""
    path = panel / OFFER_RULES
    return io.read_parquet(path, rerun=io.rerun("prepare", panel), require=["category", "levels"]) if path.is_file() else None


def _check_decision_inputs(p: Prepared, fold: int, pair_elasticity: pl.DataFrame, response_folder: Path) -> None:
    """The elasticity folder's pairs must be this panel's, for this fold's decided period: another
    run's, or another fold's, would be optimised with prices and probabilities that do not belong."""
    period = p.decided_period(fold)
    made_for = pair_elasticity.get_column("period").unique().to_list()
    if made_for != [period]:
        raise InputError(
            f"{response_folder / 'pair_elasticity.parquet'}: made for period(s) {made_for}, but fold {fold} decides period {period}; "
            f"run `offerwise elasticity --fold {fold}` into that folder first."
        )
    decided = p.frame.select("customer_id", "item_id", "period").filter(pl.col("period") == period).drop("period")
    strangers = pair_elasticity.select("customer_id", "item_id").join(decided, on=["customer_id", "item_id"], how="anti").height
    if strangers:
        raise InputError(
            f"{response_folder / 'pair_elasticity.parquet'}: {strangers:,} of {pair_elasticity.height:,} pairs are not in the panel's "
            f"decided period {period}: it was made from another panel (another run's folder?)."
        )


def _unoptimised(cfg: OptimizeConfig, failures: list[str]) -> InputError:
    """Why no category could be optimised: the option at fault when every category failed on an
    unreachable retention target or budget (optimize/solvers.py's messages), else see the log."""
    retention = [f for f in failures if ("retention target" in f and "unreachable" in f) or "cannot both hold" in f]
    budget = [f for f in failures if "budget" in f and cfg.budget is not None]
    if not failures or any(f not in retention and f not in budget for f in failures):
        return InputError("No category could be optimised; see the messages above.")
    keys = []
    if retention:
        mode = "x the status quo's retention" if cfg.retention_mode == "relative" else "a share of pairs (retention_mode 'absolute')"
        keys.append(f"lower the 'optimize.retention' option ({cfg.retention:g}, {mode})")
    if budget:
        keys.append(f"raise or unset the 'optimize.budget' option ({cfg.budget:g} x the status quo's spend)")
    what = " and ".join(k for k, on in (("retention target", retention), ("budget", budget)) if on)
    return OptionError(
        f"No category could be optimised: the {what} cannot be met in any of them (see the messages above); {' or '.join(keys)}."
    )


def recommend(
    panel: Path,
    models: Path,
    evaluation: Path,
    out: Path,
    cfg: OptimizeConfig,
    *,
    run_id: str,
    decision_model: str = "tcn",
    response: ResponseConfig | None = None,
    runtime: RuntimeConfig | None = None,
    response_from: Path | None = None,
    experiment: ExperimentConfig | None = None,
    log: Callable[[str], None] = silent,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The forward plan: the same elasticity and optimisation as the backtest, at the last cutoff
    (`response_from`: reuse the backtest's offer-response estimate from that folder), with its
    experiment (`experiment`, default ExperimentConfig(): arms, propensities; experiment.json)."""
    p = read_prepared(panel)
    fold = p.forward_fold
    elasticity(
        panel,
        models,
        out,
        fold=fold,
        evaluation=evaluation,
        decision_model=decision_model,
        response=response,
        response_from=response_from,
        runtime=runtime,
        log=log,
    )
    summary, inputs, levels = _optimized(
        panel, evaluation, out, out, cfg, fold=fold, compare=False, decision_model=decision_model, runtime=runtime, log=log
    )
    start, end = p.period_dates(p.decided_period(fold))
    plan, per_category = recommendation_tables(
        io.read_parquet(out / "offers.parquet", rerun=io.rerun("recommend", out)), summary, start, end, run_id
    )
    plan, per_category = _with_experiment(p, fold, plan, per_category, inputs, levels, out, cfg, experiment or ExperimentConfig())
    io.write_parquet(plan, out / "offers.parquet")
    io.write_csv(rounded_csv(plan), out / "offers.csv")
    io.write_csv(rounded_csv(per_category), out / "summary.csv")
    return plan, per_category


def _with_experiment(
    p: Prepared,
    fold: int,
    plan: pl.DataFrame,
    per_category: pl.DataFrame,
    inputs: pl.DataFrame,
    levels: dict,
    out: Path,
    cfg: OptimizeConfig,
    experiment: ExperimentConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The plan's arms and the offers to give (experiment/design.py); writes experiment.json. `inputs`
    and `levels`: the decision's, as the optimiser used them."""
    decided = p.decided_period(fold)
    start, end = p.period_dates(decided)
    history = p.frame.select(*PAIR, "period", "target", "offer_pct").filter(pl.col("period").is_between(decided - 2, decided - 1))
    offers, by_category, info = plan_experiment(
        plan,
        pair_slope_frame(inputs, cfg),
        {c: list(lv.allowed or []) for c, lv in levels.items()},
        history,
        decided,
        experiment,
        key=experiment_key(experiment.seed, start),
        kind=cfg.response,
    )
    io.write_json(info | {"period_start": start.isoformat(), "period_end": end.isoformat()}, out / EXPERIMENT)
    return offers, per_category.join(by_category, on="category", how="left")
