"""The prepare stage's runner: load the data, build the panel and each decision's status quo, keep the retailer's rules."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl

from offerwise import io
from offerwise.columns import AGE_COLUMNS, age_column
from offerwise.config import Config, OptionError, PanelConfig
from offerwise.data.load import load_data
from offerwise.data.offer_rules import find_rules_file, read_offer_rules
from offerwise.data.plans import HISTORY, PLANNED, find_plan_file, offers_for_period, read_offer_table
from offerwise.data.summary import load_lines
from offerwise.errors import InputError
from offerwise.features.build import build_panel, plan_panel
from offerwise.features.outside import category_lines, outside_purchases
from offerwise.features.periods import complete_periods, data_dates, default_anchor
from offerwise.features.shards import build_panel_shards, read_panel
from offerwise.features.status_quo import status_quo_offers
from offerwise.model.slices import ALL, make_slice, validation_status_quo
from offerwise.pipeline.folders import OFFER_RULES, OUTSIDE_ITEMS, VALIDATION_SQ, period_dates, silent
from offerwise.runtime import Runtime, ensure_ray


def _offer_history(data, source: str, cfg: Config, log: Callable[[str], None] = silent) -> pl.DataFrame | None:
    """The data folder's offer_history.{csv,parquet}, validated (None when absent or ignored). Rows
    outside the data's dates or naming consumers without transactions change nothing: they are
    counted in the log; a history none of whose rows falls in the data's dates is the wrong file."""
    path = find_plan_file(source, HISTORY) if cfg.data.use_offer_history and cfg.panel.item_level == "item_id" else None
    if path is None:
        return None
    history = read_offer_table(path, items=data.items, dated=True, transactions=data.transactions)
    days = data_dates(data.transactions)
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
    planned_path = planned_offers or find_plan_file(source, PLANNED)
    if cfg.panel.item_level != "item_id" and planned_path:
        log("planned offers ignored: the panel models a coarser item level than item_id")
        return None, None
    return planned_path, read_offer_table(
        planned_path, items=data.items, dated=False, transactions=data.transactions
    ) if planned_path else None


def _read_offer_rules(data, source: str, offer_rules: Path | None) -> pl.DataFrame | None:
    """The retailer's offer rules (the --offer-rules file, else the data folder's), validated; None without one."""
    path = offer_rules or find_rules_file(source)
    categories = data.items.get_column("category").drop_nulls().unique().to_list()
    return read_offer_rules(path, categories=categories) if path else None


def _plans(panel, planned_path: Path | None, planned: pl.DataFrame | None, history: pl.DataFrame | None) -> dict[int, pl.DataFrame | None]:
    """The retailer's plan for each fold's decided period: planned_offers for the forward fold, the
    offer history's entries for backtest folds (None where there is no record)."""
    plans: dict[int, pl.DataFrame | None] = {}
    for fold, decision, period in panel.splits.filter(pl.col("split") == "test").select("fold", "decision", "period").iter_rows():
        start, end = period_dates(panel.info, period)
        if decision == "forward" and planned is not None:
            plans[fold] = offers_for_period(planned, start, end, path=planned_path, strict=True)
        elif history is not None:
            plans[fold] = offers_for_period(history, start, end)
    return plans


def _reference_columns(features) -> list[str]:
    """The panel columns the status quo offers and the outside purchases read."""
    names = [f.name for f in features]
    ages = [c for c in AGE_COLUMNS if c in names]
    return ["customer_id", "item_id", "category", "period", "target", "offer_pct", "relevant_from_fold", *ages]


def _outside_items(data, cfg: PanelConfig, splits: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Each decision's purchases outside its items, per consumer-category (features/outside.py)."""
    decided = dict(splits.filter(pl.col("split") == "test").select("fold", "period").iter_rows())
    pairs = rows.select("customer_id", "item_id", "relevant_from_fold").unique()
    return outside_purchases(category_lines(data.transactions, data.items, plan_panel(data.transactions, cfg)), pairs, decided)


def check_panel_options(cfg: PanelConfig, data) -> None:
    """The panel options only the data's dates can show wrong (start, end, min_purchases), each named
    with its value and the data's dates, before anything is built or written (item_level: coarsen_items)."""
    first, last = data_dates(data.transactions)
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
    log: Callable[[str], None] = silent,
) -> dict:
    """Load, build the panel with its future period, and fix each decision's status quo offers; the
    retailer's offer rules (`offer_rules`, else the data folder's file) validated for `optimize`.
    runtime.shards > 1: the panel is built and written shard by shard (features/shards.py)."""
    data = load_data(
        source,
        unknown_items=cfg.data.unknown_items,
        with_promotions=cfg.data.with_promotions,
        max_lines_per_consumer_ratio=cfg.data.max_lines_per_consumer_ratio,
    )
    check_panel_options(cfg.panel, data)
    if cfg.runtime.engine == "ray":  # connect before a shard is written: a wrong runtime.address stops here
        ensure_ray(cfg.runtime)
    history = _offer_history(data, source, cfg, log)
    planned_path, planned = _planned_offers(data, source, cfg, planned_offers, log)
    rules = _read_offer_rules(data, source, offer_rules)
    if cfg.runtime.shards > 1:
        (out / "panel.parquet").unlink(missing_ok=True)
        panel = build_panel_shards(
            data, cfg.panel, out, shards=cfg.runtime.shards, runtime=Runtime(cfg.runtime, progress=log), offer_history=history
        )
        rows_for_reference = read_panel(out, _reference_columns(panel.features))
    else:
        panel = build_panel(data, cfg.panel, offer_history=history)
        # The status quo reads a few columns: sorting and filtering those, not the panel's ~120, saves seconds.
        rows_for_reference = panel.frame.select(_reference_columns(panel.features))
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
        # The status quo at the cutoff itself, for scoring the validation period like the decided one (model.slices.make_slice).
        validation_sq.append(validation_status_quo(sl.frame, sl.validation, sq, rule).with_columns(fold=pl.lit(fold, pl.Int32)))
    if cfg.runtime.shards == 1:
        io.write_parquet(panel.frame, out / "panel.parquet")
    io.write_csv(panel.splits, out / "splits.csv")
    io.write_parquet(pl.concat(status_quo), out / "status_quo.parquet")
    io.write_parquet(pl.concat(validation_sq), out / VALIDATION_SQ)
    io.write_parquet(_outside_items(data, cfg.panel, panel.splits, rows_for_reference), out / OUTSIDE_ITEMS)
    if rules is not None:
        io.write_parquet(rules, out / OFFER_RULES)
    else:
        (out / OFFER_RULES).unlink(missing_ok=True)  # an earlier prepare's rules are not this run's
    io.write_json({**panel.manifest(), "load_report": data.report.as_rows()}, out / "features.json")
    io.write_json(cfg.model_dump(mode="json"), out / "config.json")
    for line in load_lines(data.report):  # what cleaning dropped, said by every run (bad input stops above with one line)
        log(line)
    return {**panel.info, "features": len(panel.features), "planned_folds": sorted(k for k, v in plans.items() if v is not None)}
