"""The model stages' runners: train, evaluate (scores and the stack), thresholds (F1 cut-offs and evidence)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from offerwise import io
from offerwise.config import Config, ModelConfig, OptionError, RuntimeConfig
from offerwise.errors import InputError
from offerwise.features.shards import panel_parts, read_panel
from offerwise.model.evidence import bootstrap_intervals, model_differences, scored_folds
from offerwise.model.fit import metrics_table, predictions_of_shard, score_rows, train_slice
from offerwise.model.scoring import OFFER_GRID
from offerwise.model.slices import make_slice, model_categories, slug
from offerwise.model.stack import apply_stack, fit_stack
from offerwise.pipeline.folders import (
    OFFER_CURVES,
    OFFER_CURVES_STAMP,
    PREDICTION_COLUMNS,
    Prepared,
    check_made_from,
    models_digest,
    read_prepared,
    silent,
    stage_folder,
    stamp_made_from,
    training_entries,
)
from offerwise.runtime import Runtime
from offerwise.thresholds.cutoffs import fold_cutoffs, with_test_f1


def check_device(model: ModelConfig) -> None:
    """model.device = "cuda" where torch cannot use CUDA: one clear line before anything is written."""
    if model.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise OptionError(
                "The 'model.device' option is 'cuda', but torch on this machine cannot use a CUDA GPU (torch.cuda.is_available() "
                "is False). Use 'auto' (a GPU when there is one) or 'cpu'."
            )


def train(
    panel: Path,
    out: Path,
    cfg: Config,
    *,
    folds: list[int] | None = None,
    reuse_for_forward: bool = False,
    log: Callable[[str], None] = silent,
    progress: bool = True,
) -> list[dict]:
    """Fit the TCN and the baselines per fold and category (validation inputs as the decided period's,
    see model.slices.make_slice). With `reuse_for_forward` the forward fold scores with the last
    backtest fold's models instead of a refit."""
    check_device(cfg.model)
    p = read_prepared(panel)
    folds = p.folds() if folds is None else folds
    summary = []
    for fold in folds:
        reuse = reuse_for_forward and fold == p.forward_fold and p.last_backtest_fold in folds
        for category in model_categories(p.frame, cfg.model.per_category):
            if reuse:
                source = next(e for e in summary if e["fold"] == p.last_backtest_fold and e["category"] == category)
                summary.append({**source, "fold": fold, "dir": source["dir"], "reused_from_fold": source["fold"]})
                continue
            log(f"fold {fold} · {category}")
            slicer = functools.partial(
                make_slice,
                splits=p.splits,
                fold=fold,
                category=category,
                status_quo=p.status_quo_of(fold),
                validation_as_decided=True,
                validation_sq=p.validation_sq_of(fold),
                min_orders=p.min_orders(cfg.model),
            )
            result = train_slice(
                slicer(p.frame),
                p.features,
                cfg.model,
                out / f"fold{fold}" / slug(category),
                progress=progress,
                runtime=cfg.runtime,
                shards=panel_parts(panel),  # Ray Train workers read their own shards ([]: one panel file)
                slicer=slicer,
            )
            summary.append({"fold": fold, "category": category, "slug": slug(category), "dir": f"fold{fold}/{slug(category)}", **result})
    io.write_json({"models": summary, "config": cfg.model_dump(mode="json"), "panel_id": p.panel_id}, out / "training.json")
    return summary


def _check_model_folds(entries: list[dict], p: Prepared, panel: Path, models: Path) -> None:
    """Models must be this panel's: of folds it has, each validated and deciding the periods its fold
    does (slice.json). Models of another panel would fail, or be scored on the period they were tuned
    on (early stopping, calibration and the stack all read the validation period): a leak."""
    rerun_hint = f"run `offerwise train --panel {panel} --out {models}` again"
    check_made_from(models, p, panel, "training.json")
    unknown = sorted({e["fold"] for e in entries} - set(p.folds()))
    if unknown:
        raise InputError(
            f"{models / 'training.json'}: models of fold(s) {unknown}, which {panel} does not have (trained on another panel?); {rerun_hint}."
        )
    for e in entries:
        record = models / e["dir"] / "slice.json"
        trained = io.read_json(record, rerun=rerun_hint, require=["validation", "test"])
        source = e.get("reused_from_fold", e["fold"])  # a forward fold scored with the backtest's models (forward_models = "reuse")
        fold = p.splits.filter(pl.col("fold") == source)
        panel_periods = {split: int(fold.filter(pl.col("split") == split).get_column("period").item()) for split in ("validation", "test")}
        if {k: trained[k] for k in panel_periods} != panel_periods:
            raise InputError(
                f"{record}: fold {source}'s models were validated on period {trained['validation']} to decide {trained['test']}, "
                f"but {panel}'s fold {source} validates on {panel_periods['validation']} to decide {panel_periods['test']} "
                f"(trained on another panel); {rerun_hint}."
            )


def evaluate(
    panel: Path, models: Path, out: Path, *, runtime: RuntimeConfig | None = None, log: Callable[[str], None] = silent
) -> pl.DataFrame:
    """Score each fold's validation and decided periods (both with inputs as known at their cutoffs:
    the status quo offer, see model.slices.make_slice) with every model and the stack of TCN and
    LightGBM fitted on validation; predictions.parquet, stack_weights.csv and metrics.csv (labelled
    rows only). Returns the metrics. A sharded panel is scored shard by shard on the runtime's engine."""
    entries = training_entries(models)
    shards = panel_parts(panel)
    p = read_prepared(panel, rows=not shards)  # shards are read by their own tasks
    _check_model_folds(entries, p, panel, models)
    if shards:
        shared = {"entries": entries, "models": models, "splits": p.splits, "status_quo": p.status_quo, "validation_sq": p.validation_sq}
        scored = Runtime(runtime, progress=log).map(predictions_of_shard, shards, shared=shared, what="scoring shards")
    else:
        scored = [
            predictions_of_shard(
                p.frame, entries=entries, models=models, splits=p.splits, status_quo=p.status_quo, validation_sq=p.validation_sq
            )
        ]
    predictions = score_rows(pl.concat([s for s, _ in scored if s.height]))
    _write_offer_curves(out, [c for _, c in scored if c.height], models, entries)
    model_cfg = io.read_json(models / "training.json").get("config", {}).get("model", {})
    weights = fit_stack(  # on validation rows only: each fold's own, and by default the earlier folds' too
        predictions, form=model_cfg.get("stack_form", "convex"), validation=model_cfg.get("stack_validation", "past_folds")
    )
    predictions = pl.concat([predictions, apply_stack(predictions, weights)])
    metrics = metrics_table(predictions)
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_csv(weights, out / "stack_weights.csv")
    io.write_csv(metrics, out / "metrics.csv")
    stamp_made_from(out, p, panel)
    return metrics


def _write_offer_curves(out: Path, parts: list[pl.DataFrame], models: Path, entries: list[dict]) -> None:
    """evaluation/offer_curves.parquet (the decided periods' curves the scoring pass made, for the
    elasticity stage) and its stamp: the models' digest and the grid."""
    if not parts:
        return
    io.write_parquet(pl.concat(parts), out / OFFER_CURVES)
    io.write_json({"models": models_digest(models, entries), "grid": OFFER_GRID.tolist()}, out / OFFER_CURVES_STAMP)


def thresholds(evaluation: Path, out: Path, *, panel: Path | None = None) -> pl.DataFrame:
    """Per-consumer F1 cut-offs fitted on each fold's validation period; the backtest folds' test F1
    of every decision rule, in metrics.csv with intervals, and the models' differences. Returns f1.csv's frame."""
    stage_folder(evaluation, "evaluation", "evaluate")
    if not (evaluation / "predictions.parquet").is_file():
        raise InputError(f"{evaluation / 'predictions.parquet'}: missing; run `offerwise evaluate --out {evaluation}` first.")
    rerun_hint = io.rerun("evaluate", evaluation)
    predictions = io.read_parquet(evaluation / "predictions.parquet", rerun=rerun_hint, require=PREDICTION_COLUMNS)
    if panel:
        check_made_from(evaluation, read_prepared(panel, rows=False), panel)
    recency = read_panel(panel, columns=["customer_id", "item_id", "period", "ci_periods_since_last"]) if panel else None
    labelled = scored_folds(predictions)
    evidence = lambda: (bootstrap_intervals(labelled), model_differences(labelled))  # noqa: E731
    # The bootstrap evidence does not depend on the cut-offs: it runs beside them (numpy and polars
    # release the GIL; the stage otherwise keeps one of two cores idle).
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(evidence) if labelled.height else None
        fitted, f1 = fold_cutoffs(predictions, recency)
    io.write_parquet(fitted, out / "thresholds.parquet")
    if f1 is None:  # only the forward plan was scored: no F1 to report yet
        return pl.DataFrame()
    intervals, differences = beside.result() if beside is not None else evidence()
    metrics = io.read_csv(evaluation / "metrics.csv", rerun=rerun_hint, require=["category", "model", "split"], numeric=["fold"])
    metrics = with_test_f1(metrics, f1).join(intervals, on=["fold", "category", "model", "split"], how="left")
    io.write_csv(f1, out / "f1.csv")
    io.write_csv(metrics, out / "metrics.csv")
    io.write_csv(differences, out / "model_differences.csv")
    return f1
