"""The `offerwise` command line: parses options and calls stages; holds no logic."""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offerwise.config import Config
from offerwise.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which offer to give each consumer on each item.")
data_app = typer.Typer(no_args_is_help=True, help="Load and inspect retail data.")
app.add_typer(data_app, name="data")
console = Console()
err_console = Console(stderr=True)

DataOption = Annotated[str, typer.Option("--data", help="'complete-journey' or a folder (AmExpert layout or canonical files).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML config file.")]


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends as one red line and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


@data_app.command("summary")
@clear_errors
def data_summary(data: DataOption = "complete-journey", config: ConfigOption = None) -> None:
    """Print households, items, transactions, categories, date range, offer share and the load report."""
    from offerwise.data.load import load_data
    from offerwise.data.summary import category_table, summarize

    cfg = Config.from_toml(config)
    with console.status(f"loading {data} ..."):
        loaded = load_data(data, unknown_items=cfg.data.unknown_items, with_promotions=False)
    console.print(_kv_table(f"Data: {loaded.report.source}", list(summarize(loaded).items())))
    console.print(_kv_table("Load report", loaded.report.as_rows()))
    cats = category_table(loaded)
    table = Table(title="Largest categories", title_justify="left")
    for col in cats.columns:
        table.add_column(col, justify="left" if col == "category" else "right")
    for row in cats.iter_rows(named=True):
        table.add_row(
            row["category"], *(f"{row[c]:.1%}" if c == "offer_share" else f"{row[c]:,.0f}" for c in cats.columns[1:])
        )
    console.print(table)


@app.command("simulate")
@clear_errors
def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the AmExpert-layout files into.")],
    customers: Annotated[int | None, typer.Option(help="Number of consumers.")] = None,
    items: Annotated[int | None, typer.Option(help="Number of items.")] = None,
    weeks: Annotated[int | None, typer.Option(help="Weeks of history (two per period).")] = None,
    categories: Annotated[int | None, typer.Option(help="Number of categories.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed: same seed, same files.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write a simulated dataset with known ground truth (AmExpert layout + ground_truth.parquet)."""
    from offerwise.data.simulate import simulate, write_simulation

    cfg = Config.from_toml(config).simulation
    overrides = {"customers": customers, "items": items, "weeks": weeks, "categories": categories, "seed": seed}
    cfg = cfg.model_validate({**cfg.model_dump(), **{k: v for k, v in overrides.items() if v is not None}})
    with console.status("simulating ..."):
        sim = simulate(cfg)
        write_simulation(sim, out, cfg)
    console.print(
        f"wrote {sim.transactions.height:,} transactions of {cfg.customers:,} consumers, "
        f"{sim.ground_truth.height:,} ground-truth rows to {out}"
    )


@app.command("prepare")
@clear_errors
def prepare_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for panel.parquet and features.json.")],
    data: DataOption = "complete-journey",
    config: ConfigOption = None,
    folds: Annotated[int | None, typer.Option(help="Rolling backtest folds.")] = None,
) -> None:
    """Build the bi-weekly consumer-item panel with all features (panel.parquet, features.json)."""
    from offerwise import io
    from offerwise.data.load import load_data
    from offerwise.features.build import build_panel

    cfg = Config.from_toml(config)
    if folds is not None:
        cfg = cfg.model_copy(update={"panel": cfg.panel.model_copy(update={"folds": folds})})
    with console.status(f"loading {data} ..."):
        loaded = load_data(data, unknown_items=cfg.data.unknown_items, with_promotions=cfg.data.with_promotions)
    with console.status("building the panel ..."):
        panel = build_panel(loaded, cfg.panel)
    io.write_parquet(panel.frame, out / "panel.parquet")
    io.write_csv(panel.splits, out / "splits.csv")
    io.write_json({**panel.manifest(), "load_report": loaded.report.as_rows()}, out / "features.json")
    io.write_json(cfg.model_dump(mode="json"), out / "config.json")
    console.print(
        f"panel: {panel.frame.height:,} rows ({panel.info['pairs']:,} pairs x {panel.info['periods']} periods), "
        f"{len(panel.features)} features -> {out}"
    )
    for category, reason in panel.info["skipped_categories"].items():
        console.print(f"[yellow]skipped[/yellow] {escape(category)}: {reason}")


def _read_panel(panel: Path):
    import polars as pl

    from offerwise import io
    from offerwise.features.manifest import Feature

    for name in ("panel.parquet", "features.json", "splits.csv"):
        if not (panel / name).is_file():
            raise InputError(f"{panel / name}: missing; run `offerwise prepare --out {panel}` first.")
    manifest = io.read_json(panel / "features.json")
    features = [Feature(**f) for f in manifest["features"]]
    return pl.read_parquet(panel / "panel.parquet"), features, pl.read_csv(panel / "splits.csv"), manifest


def _training_entries(models: Path) -> list[dict]:
    """The model sets `offerwise train` saved (fold, category, slug, ...)."""
    from offerwise import io

    if not (models / "training.json").is_file():
        raise InputError(f"{models / 'training.json'}: missing; run `offerwise train --out {models}` first.")
    return io.read_json(models / "training.json")["models"]


def _categories(frame, per_category: bool) -> list[str]:
    from offerwise.model.pipeline import ALL

    return sorted(frame.get_column("category").unique().to_list()) if per_category else [ALL]


@app.command("train")
@clear_errors
def train_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by `offerwise prepare`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the checkpoints.")],
    config: ConfigOption = None,
    epochs: Annotated[int | None, typer.Option(help="Override model.epochs.")] = None,
    shared: Annotated[bool, typer.Option("--shared", help="One model for all categories (category embedding).")] = False,
) -> None:
    """Train the TCN and the baselines per category and fold; save checkpoints."""
    from offerwise import io
    from offerwise.model.pipeline import make_slice, slug, train_slice

    cfg = Config.from_toml(config)
    model_cfg = cfg.model.model_copy(update={k: v for k, v in {"epochs": epochs, "per_category": not shared if shared else None}.items() if v is not None})
    frame, features, splits, _ = _read_panel(panel)
    summary = []
    for fold in sorted(splits.get_column("fold").unique().to_list()):
        for category in _categories(frame, model_cfg.per_category):
            console.print(f"fold {fold} · {escape(category)}")
            result = train_slice(make_slice(frame, splits, fold, category), features, model_cfg, out / f"fold{fold}" / slug(category))
            summary.append({"fold": fold, "category": category, "slug": slug(category), **result})
    io.write_json({"models": summary, "config": cfg.model_copy(update={"model": model_cfg}).model_dump(mode="json")}, out / "training.json")
    console.print(f"trained {len(summary)} model set(s) -> {out}")


@app.command("evaluate")
@clear_errors
def evaluate_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by `offerwise prepare`.")],
    models: Annotated[Path, typer.Option("--models", help="Folder written by `offerwise train`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for predictions.parquet and metrics.csv.")],
) -> None:
    """Score validation and test periods of every fold; write predictions.parquet and metrics.csv."""
    import polars as pl

    from offerwise import io
    from offerwise.model.pipeline import make_slice, metrics_table, predict_slice

    frame, _, splits, _ = _read_panel(panel)
    parts = []
    for entry in _training_entries(models):
        sl = make_slice(frame, splits, entry["fold"], entry["category"])
        parts.append(predict_slice(sl, models / f"fold{entry['fold']}" / entry["slug"]).with_columns(fold=pl.lit(entry["fold"], pl.Int32)))
    predictions = pl.concat(parts)
    metrics = metrics_table(predictions)
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_csv(metrics, out / "metrics.csv")
    table = Table(title="Test metrics", title_justify="left")
    for col in ("category", "model", "rows", "positives", "bce", "roc_auc", "pr_auc"):
        table.add_column(col)
    for row in metrics.filter(pl.col("split") == "test").iter_rows(named=True):
        table.add_row(escape(str(row["category"])), row["model"], f"{row['rows']:,}", f"{row['positives']:,}", f"{row['bce']:.4f}", f"{row['roc_auc']:.3f}", f"{row['pr_auc']:.3f}")
    console.print(table)


@app.command("thresholds")
@clear_errors
def thresholds_command(
    evaluation: Annotated[Path, typer.Option("--evaluation", help="Folder written by `offerwise evaluate`.")],
    panel: Annotated[Path | None, typer.Option("--panel", help="Prepared panel, for the 'bought in the last 2 periods' rule.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the evaluation folder).")] = None,
) -> None:
    """Per-consumer F1 cut-offs fitted on validation and applied to test; thresholds.parquet, f1.csv, metrics.csv."""
    import polars as pl

    from offerwise import io
    from offerwise.thresholds.decide import decide, f1_table

    out = out or evaluation
    if not (evaluation / "predictions.parquet").is_file():
        raise InputError(f"{evaluation / 'predictions.parquet'}: missing; run `offerwise evaluate --out {evaluation}` first.")
    predictions = pl.read_parquet(evaluation / "predictions.parquet")
    frame = pl.read_parquet(panel / "panel.parquet", columns=["customer_id", "item_id", "period", "ci_periods_since_last"]) if panel else None
    thresholds, tables = [], []
    for (fold,), fold_preds in predictions.group_by("fold", maintain_order=True):
        recency = None
        if frame is not None:
            test_period = fold_preds.filter(pl.col("split") == "test").get_column("period").first()
            recency = frame.filter(pl.col("period") == test_period).select("customer_id", "item_id", periods_since_last="ci_periods_since_last")
        fitted, decisions = decide(fold_preds, recency)
        thresholds.append(fitted.with_columns(fold=pl.lit(fold, pl.Int32)))
        tables.append(f1_table(decisions).with_columns(fold=pl.lit(fold, pl.Int32)))
    f1 = pl.concat(tables)
    metrics = pl.read_csv(evaluation / "metrics.csv")
    honest = f1.filter(pl.col("rule") == "consumer_cutoff").select(
        "fold", "category", "model", pl.lit("test").alias("split"), "precision", "recall", "f1", f1_rule=pl.lit("consumer_cutoff")
    )
    metrics = metrics.drop([c for c in ("precision", "recall", "f1", "f1_rule") if c in metrics.columns]).join(
        honest, on=["fold", "category", "model", "split"], how="left"
    )
    io.write_parquet(pl.concat(thresholds), out / "thresholds.parquet")
    io.write_csv(f1, out / "f1.csv")
    io.write_csv(metrics, out / "metrics.csv")
    summary = f1.group_by("rule", "model").agg(pl.col("f1").min().alias("min"), pl.col("f1").max().alias("max")).sort("rule", "model")
    table = Table(title="Test F1 across categories (oracle_test peeks at the test labels)", title_justify="left")
    for col in ("rule", "model", "min F1", "max F1"):
        table.add_column(col)
    for r in summary.iter_rows():
        table.add_row(r[0], r[1], f"{r[2]:.3f}", f"{r[3]:.3f}")
    console.print(table)


@app.command("elasticity")
@clear_errors
def elasticity_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by `offerwise prepare`.")],
    models: Annotated[Path, typer.Option("--models", help="Folder written by `offerwise train`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for elasticity.csv and pair_elasticity.parquet.")],
) -> None:
    """Category sigmoids (paper's and counterfactual route), reference offers and elasticities per pair."""
    import polars as pl

    from offerwise import io
    from offerwise.elasticity.pipeline import category_elasticity
    from offerwise.model.pipeline import make_slice
    from offerwise.model.tcn import TCNModel

    frame, _, splits, _ = _read_panel(panel)
    entries = _training_entries(models)
    last_fold = max(e["fold"] for e in entries)
    age = next((c for c in frame.columns if c in ("demo_age_range", "demo_age")), None)
    fits, pairs = [], []
    for entry in (e for e in entries if e["fold"] == last_fold):
        sl = make_slice(frame, splits, last_fold, entry["category"])
        model = TCNModel.load(models / f"fold{last_fold}" / entry["slug"] / "tcn.pt")
        for (category,), rows in sl.frame.group_by("category", maintain_order=True):
            with console.status(f"elasticity · {category}"):
                f, p = category_elasticity(rows, model, sl.test, age_column=age)
            fits += f
            pairs.append(p.with_columns(period=pl.lit(sl.test, pl.Int32)))
    table = pl.DataFrame(fits)
    io.write_csv(table, out / "elasticity.csv")
    io.write_parquet(pl.concat(pairs), out / "pair_elasticity.parquet")
    console.print(table.select("category", "source", "a", "b", "r2", "n", "avg_elasticity"))


@app.command("optimize")
@clear_errors
def optimize_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by `offerwise prepare`.")],
    evaluation: Annotated[Path, typer.Option("--evaluation", help="Folder with thresholds.parquet, elasticity.csv, pair_elasticity.parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for offers.parquet, offers.csv, optimization_summary.csv.")],
    config: ConfigOption = None,
    compare: Annotated[bool, typer.Option("--compare", help="Also solve every response x objective variant for the summary.")] = False,
) -> None:
    """Recommended offer per consumer-item (paper Equation 13 and better-founded variants)."""
    import polars as pl

    from offerwise import io
    from offerwise.optimize.inputs import optimization_inputs
    from offerwise.optimize.pipeline import category_ranges, optimize_category

    cfg = Config.from_toml(config).optimize
    for name in ("thresholds.parquet", "elasticity.csv", "pair_elasticity.parquet"):
        if not (evaluation / name).is_file():
            raise InputError(f"{evaluation / name}: missing; run `offerwise thresholds` and `offerwise elasticity` first.")
    frame, _, _, _ = _read_panel(panel)
    inputs = optimization_inputs(
        frame, pl.read_parquet(evaluation / "pair_elasticity.parquet"), pl.read_parquet(evaluation / "thresholds.parquet"),
        pl.read_csv(evaluation / "elasticity.csv"),
    )  # fmt: skip
    variants = [cfg] + ([cfg.model_copy(update={"response": r, "objective": o}) for r in ("linear", "sigmoid", "counterfactual")
                         for o in ("indicator", "expected") if (r, o) != (cfg.response, cfg.objective)] if compare else [])  # fmt: skip
    offers, summary, by_variant = [], [], {}
    ranges = category_ranges(inputs, cfg.offer_range_percentiles)
    for (category,), pairs in inputs.group_by("category", maintain_order=True):
        for variant in variants:
            chosen, row = optimize_category(pairs, variant, ranges[category])
            summary.append(row)
            if variant is cfg and chosen is not None:
                offers.append(chosen)
            if compare and chosen is not None:
                by_variant.setdefault(f"{variant.response}_{variant.objective}", []).append(chosen)
            if row["status"] != "ok":
                err_console.print(f"[yellow]{escape(str(category))}[/yellow] ({variant.response}, {variant.objective}): {escape(row['status'])}")
    if not offers:
        raise InputError("No category could be optimised; see the messages above.")
    result = pl.concat(offers)
    io.write_parquet(result, out / "offers.parquet")
    io.write_csv(result, out / "offers.csv")
    for name, parts in by_variant.items():  # every variant's offers, for scoring against a simulator's truth
        io.write_parquet(pl.concat(parts), out / "variants" / f"offers_{name}.parquet")
    table = pl.DataFrame(summary)
    io.write_csv(table, out / "optimization_summary.csv")
    console.print(table.select([c for c in ("category", "response", "objective_form", "status", "retention_before", "retention_after",
                                            "expected_revenue_before", "expected_revenue_after", "gap", "seconds") if c in table.columns]))


def _stage(out: Path, name: str, cfg_hash: str, action: Callable[[], Any]) -> None:
    """Run a stage unless its completion record says it already ran with this config."""
    from offerwise import io

    record = out / ".stages" / f"{name}.json"
    if record.is_file() and io.read_json(record).get("config_hash") == cfg_hash:
        console.print(f"[dim]✓ {name} (done earlier, resumed)[/dim]")
        return
    console.rule(f"[bold]{name}")
    started = time.perf_counter()
    action()
    seconds = round(time.perf_counter() - started, 1)
    io.write_json({"stage": name, "config_hash": cfg_hash, "seconds": seconds}, record)
    console.print(f"[dim]{name}: {seconds:.0f} s[/dim]")


@app.command("run")
@clear_errors
def run_command(
    data: Annotated[str, typer.Option("--data", help="complete-journey, simulated, or a folder.")] = "complete-journey",
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default ./offerwise-out/<data>-<timestamp>); reuse it to resume.")] = None,
    config: ConfigOption = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small documented sample for a first look (see Config.quick).")] = False,
) -> None:
    """Every stage end to end: data, panel, train, evaluate, thresholds, elasticity, optimise, report."""
    import datetime as dt

    from offerwise.data.load import load_data

    cfg = Config.from_toml(config)
    cfg = cfg.quick() if quick else cfg
    if data not in ("complete-journey", "simulated"):
        load_data(data, with_promotions=False)  # fail fast, before anything is written, on a wrong folder
    out = out or Path("offerwise-out") / f"{Path(data).name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    fresh = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        _run_stages(out, data, cfg)
    except (InputError, typer.Exit) as exc:  # a stage's bad input arrives as its own exit code 2
        if fresh and (isinstance(exc, InputError) or exc.exit_code == 2):  # e.g. a category with no data: leave nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    console.print(f"[bold green]done[/bold green]: report at {out / 'report' / 'report.html'}", soft_wrap=True)  # one line: copy-pasteable


def _run_stages(out: Path, data: str, cfg: Config) -> None:
    from offerwise import io
    from offerwise.data.simulate import simulate, write_simulation

    cfg_path = io.write_text(cfg.model_dump_json(indent=2), out / "config.json")
    h = cfg.hash()
    source = str(out / "data") if data == "simulated" else data
    if data == "simulated":
        _stage(out, "simulate", h, lambda: write_simulation(simulate(cfg.simulation), out / "data", cfg.simulation))
    prepared, models, evaluation, optimized = out / "prepared", out / "models", out / "evaluation", out / "optimize"
    _stage(out, "prepare", h, lambda: prepare_command(out=prepared, data=source, config=cfg_path))
    _stage(out, "train", h, lambda: train_command(panel=prepared, out=models, config=cfg_path))
    _stage(out, "evaluate", h, lambda: evaluate_command(panel=prepared, models=models, out=evaluation))
    _stage(out, "thresholds", h, lambda: thresholds_command(evaluation=evaluation, panel=prepared, out=evaluation))
    _stage(out, "elasticity", h, lambda: elasticity_command(panel=prepared, models=models, out=evaluation))
    _stage(out, "optimize", h, lambda: optimize_command(panel=prepared, evaluation=evaluation, out=optimized, config=cfg_path, compare=True))
    _stage(out, "report", h, lambda: _report(out, source, data, cfg))


def _report(out: Path, source: str, data: str, cfg: Config) -> None:
    import polars as pl

    from offerwise import io
    from offerwise.data.load import load_data
    from offerwise.report.build import build_report
    from offerwise.report.html import table1
    from offerwise.report.policy import score_against_truth

    evaluation, optimized = out / "evaluation", out / "optimize"
    loaded = load_data(source, with_promotions=False)
    policy = None
    if data == "simulated":
        frame, _, _, manifest = _read_panel(out / "prepared")
        policy = score_against_truth(
            frame, manifest["anchor"], manifest["period_days"], pl.read_parquet(evaluation / "pair_elasticity.parquet"),
            pl.read_parquet(evaluation / "thresholds.parquet"), pl.read_csv(evaluation / "elasticity.csv"),
            pl.read_parquet(optimized / "offers.parquet"), pl.read_parquet(out / "data" / "ground_truth.parquet"), cfg.optimize,
        )  # fmt: skip
        io.write_csv(policy, out / "report" / "policy_score.csv")
    path = build_report(loaded, evaluation, optimized, out / "report", title=f"offerwise: {data}", policy=policy)
    t1 = table1(pl.read_csv(evaluation / "metrics.csv"), pl.read_csv(evaluation / "f1.csv"), pl.read_csv(evaluation / "elasticity.csv"), pl.read_csv(optimized / "optimization_summary.csv"))
    io.write_csv(t1, out / "report" / "table1.csv")
    table = Table(title="Table 1", title_justify="left")
    for col in t1.columns:
        table.add_column(col)
    for row in t1.iter_rows():
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else escape(str(v)) for v in row))
    console.print(table)
    if policy is not None:
        console.print(policy)
    console.print(f"report: {path}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
