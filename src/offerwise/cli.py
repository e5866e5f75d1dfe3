"""The `offerwise` command line: parses options, calls offerwise.pipeline, prints what it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from offerwise.boundary import clear_errors, output_folder
from offerwise.cli_options import ConfigOption, DataOption, EngineOption, PlannedOption, ReuseOption, RulesOption, ShardsOption
from offerwise.config import Config, SimulationConfig
from offerwise.errors import InputError
from offerwise.render import frame_table, print_data_summary, print_measurement, print_plan, print_played, print_pooled

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Which offer to give each consumer on each item."
)
data_app = typer.Typer(no_args_is_help=True, help="Load and inspect retail data.")
app.add_typer(data_app, name="data")
console = Console()
SIM = SimulationConfig()  # the defaults `simulate --help` shows (a --config file can change them)


def _version(value: bool) -> None:
    if value:
        from offerwise import __version__

        console.print(f"offerwise {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Which offer to give each consumer on each item, for the fortnight after your data ends."""


@data_app.command("summary")
@clear_errors
def data_summary(data: DataOption = "complete-journey", config: ConfigOption = None) -> None:
    """Print households, items, transactions, categories, date range, offer share and the load report."""
    from offerwise.data.load import load_data
    from offerwise.data.summary import category_table, summarize

    cfg = Config.from_toml(config)
    with console.status(f"loading {data} ..."):
        loaded = load_data(
            data,
            unknown_items=cfg.data.unknown_items,
            with_promotions=False,
            max_lines_per_consumer_ratio=cfg.data.max_lines_per_consumer_ratio,
        )
    print_data_summary(console, loaded, summarize(loaded), category_table(loaded))


@app.command("simulate")
@clear_errors
def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the AmExpert-layout files into.")],
    customers: Annotated[int | None, typer.Option(help=f"Number of consumers (default {SIM.customers}).")] = None,
    items: Annotated[int | None, typer.Option(help=f"Number of items (default {SIM.items}).")] = None,
    weeks: Annotated[int | None, typer.Option(help=f"Weeks of history, two per period (default {SIM.weeks}).")] = None,
    categories: Annotated[int | None, typer.Option(help=f"Number of categories (default {SIM.categories}).")] = None,
    seed: Annotated[int | None, typer.Option(help=f"Random seed: same seed, same files (default {SIM.seed}).")] = None,
    config: ConfigOption = None,
    play: Annotated[
        Path | None, typer.Option("--play", help="A run folder: play its recommendations/offers.parquet on --data's next fortnight.")
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="With --play: the simulated folder the run decided on.")] = None,
) -> None:
    """Write a simulated dataset with known ground truth (AmExpert layout + ground_truth.parquet), or with
    --play RUN --data SIM: SIM one fortnight longer, that fortnight drawn under RUN's offers."""
    from offerwise.data.simulate import simulate
    from offerwise.data.simulate_frames import write_simulation

    overrides = {"customers": customers, "items": items, "weeks": weeks, "categories": categories, "seed": seed}
    if play is not None or data is not None:
        return _play(play, data, out, [f"--{k}" for k, v in {**overrides, "config": config}.items() if v is not None])
    cfg = Config.from_toml(config).override("simulation", **overrides).simulation
    with console.status("simulating ..."), output_folder(out):
        sim = simulate(cfg)
        write_simulation(sim, out, cfg)
    console.print(
        f"wrote {sim.transactions.height:,} transactions of {cfg.customers:,} consumers, "
        f"{sim.ground_truth.height:,} ground-truth rows to {out}"
    )


def _play(run: Path | None, data: Path | None, out: Path, ignored: list[str]) -> None:
    from offerwise.data.play_folder import play_folder

    if run is None or data is None:
        raise InputError("--play RUN and --data SIM go together: RUN's plan is played on SIM's fortnight after the data.")
    if ignored:
        raise InputError(f"--play goes on with SIM's own world and config: leave out {', '.join(ignored)}.")
    with console.status("playing ..."), output_folder(out):
        done = play_folder(run, data, out)
    print_played(console, done, out)


def _log(message: str) -> None:
    console.print(message, soft_wrap=True, highlight=False)


EXPECTED_MINUTES = {
    "complete-journey": "About 5 minutes on 2 cores with configs/make-run.toml, about 1 minute with --quick",
    "simulated": "About 1-3 minutes on 2 cores, 30-60 s with --quick",
}


@app.command("prepare")
@clear_errors
def prepare_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for panel.parquet and features.json.")],
    data: DataOption = "complete-journey",
    config: ConfigOption = None,
    folds: Annotated[int | None, typer.Option(help="Backtest folds (decisions at earlier cutoffs).")] = None,
    planned_offers: PlannedOption = None,
    offer_rules: RulesOption = None,
    engine: EngineOption = None,
    shards: ShardsOption = None,
) -> None:
    """Build the bi-weekly consumer-item panel, with the fortnight after the data as its last period."""
    from offerwise import pipeline

    cfg = Config.from_toml(config).override("panel", folds=folds).override("runtime", engine=engine, shards=shards)
    with console.status(f"loading {data} and building the panel ..."), output_folder(out):
        info = pipeline.prepare(data, out, cfg, planned_offers=planned_offers, offer_rules=offer_rules, log=_log)
    console.print(
        f"panel: {info['rows']:,} rows ({info['pairs']:,} pairs x {info['periods']} periods, the last one the fortnight from "
        f"{info['future_period_start']} to decide), {info['features']} features -> {out}"
    )
    for category, reason in info["skipped_categories"].items():
        console.print(f"[yellow]skipped[/yellow] {escape(category)}: {reason}")


@app.command("train")
@clear_errors
def train_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by offerwise prepare.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the checkpoints.")],
    config: ConfigOption = None,
    epochs: Annotated[int | None, typer.Option(help="Override model.epochs.")] = None,
    shared: Annotated[
        bool | None,
        typer.Option(
            "--shared/--per-category",
            show_default=False,
            help="One model for all categories with a category embedding (the default), or one per category (model.per_category).",
        ),
    ] = None,
    reuse_models: ReuseOption = None,
) -> None:
    """Train the TCN and the baselines per fold (the forward plan's fold included); save checkpoints."""
    from offerwise import pipeline

    cfg = _with_reuse(
        Config.from_toml(config).override("model", epochs=epochs, per_category=None if shared is None else not shared), reuse_models
    )
    with output_folder(out):
        trained = pipeline.train(panel, out, cfg, reuse_for_forward=cfg.model.forward_models == "reuse", log=_log)
    console.print(f"trained {len(trained)} model set(s) -> {out}")


@app.command("evaluate")
@clear_errors
def evaluate_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by offerwise prepare.")],
    models: Annotated[Path, typer.Option("--models", help="Folder written by offerwise train.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for predictions.parquet and metrics.csv.")],
) -> None:
    """Score each fold's validation and decided periods; write predictions.parquet and metrics.csv."""
    import polars as pl

    from offerwise import pipeline

    with output_folder(out):
        metrics = pipeline.evaluate(panel, models, out)
    test = metrics.filter(pl.col("split") == "test")
    console.print(
        frame_table(
            test,
            "Test metrics (the backtest's decided fortnight)",
            ["fold", "category", "model", "rows", "positives", "bce", "roc_auc", "pr_auc"],
            4,
        )
    )


@app.command("thresholds")
@clear_errors
def thresholds_command(
    evaluation: Annotated[Path, typer.Option("--evaluation", help="Folder written by offerwise evaluate.")],
    panel: Annotated[Path | None, typer.Option("--panel", help="Prepared panel, for the 'bought in the last 2 periods' rule.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the evaluation folder).")] = None,
) -> None:
    """Per-consumer F1 cut-offs fitted on validation and applied to test; thresholds.parquet, f1.csv, metrics.csv."""
    import polars as pl

    from offerwise import pipeline

    with output_folder(out or evaluation):
        f1 = pipeline.thresholds(evaluation, out or evaluation, panel=panel)
    summary = f1.group_by("rule", "model").agg(pl.col("f1").min().alias("min F1"), pl.col("f1").max().alias("max F1")).sort("rule", "model")
    console.print(frame_table(summary, "Test F1 across categories (oracle_test peeks at the test labels)"))


@app.command("elasticity")
@clear_errors
def elasticity_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by offerwise prepare.")],
    models: Annotated[Path, typer.Option("--models", help="Folder written by offerwise train.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for elasticity.csv and pair_elasticity.parquet.")],
    fold: Annotated[int | None, typer.Option(help="The decision (fold) to analyse; default the last backtest fold.")] = None,
    config: ConfigOption = None,
) -> None:
    """Category sigmoids (paper's and counterfactual route), the orthogonalised offer response, elasticities per pair."""
    from offerwise import pipeline

    cfg = Config.from_toml(config)
    response = cfg.response if cfg.optimize.response == "dml" else None
    with console.status("elasticity ..."), output_folder(out):
        fits = pipeline.elasticity(
            panel, models, out, fold=fold, evaluation=out, decision_model=cfg.model.decision_model, response=response
        )
    console.print(frame_table(fits, "Offer response per category", ["category", "source", "a", "b", "r2", "n", "avg_elasticity"], 4))


@app.command("optimize")
@clear_errors
def optimize_command(
    panel: Annotated[Path, typer.Option("--panel", help="Folder written by offerwise prepare.")],
    evaluation: Annotated[
        Path, typer.Option("--evaluation", help="Folder with thresholds.parquet, elasticity.csv, pair_elasticity.parquet.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for offers.parquet, offers.csv, optimization_summary.csv.")],
    config: ConfigOption = None,
    compare: Annotated[
        bool, typer.Option("--compare", metavar="", help="Also solve every response x objective variant for the summary.")
    ] = False,
    fold: Annotated[int | None, typer.Option(help="The decision (fold); default the last backtest fold.")] = None,
) -> None:
    """Recommended offer per consumer-item (paper Equation 13 and better-founded variants)."""
    from offerwise import pipeline

    cfg = Config.from_toml(config)
    with output_folder(out):
        table = pipeline.optimize(
            panel, evaluation, evaluation, out, cfg.optimize, fold=fold, compare=compare, decision_model=cfg.model.decision_model, log=_log
        )
    console.print(
        frame_table(
            table,
            "Optimisation (the model's view)",
            {
                "category": "category",
                "response": "response",
                "objective_form": "objective",
                "status": "status",
                "retention_before": "retention\nbefore",
                "retention_after": "retention\nafter",
                "expected_revenue_before": "revenue\nbefore",
                "expected_revenue_after": "revenue\nafter",
                "gap": "gap",
            },
        )
    )


def _run_folder(out: Path | None, data: str) -> Path:
    import datetime as dt

    out = out or Path("offerwise-out") / f"{Path(data).name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder (new, or an earlier run's to resume).")
    return out


def _with_reuse(cfg: Config, reuse_models: bool | None) -> Config:
    """--reuse-models / --refit-models over model.forward_models; neither: the config's."""
    return cfg if reuse_models is None else cfg.override("model", forward_models="reuse" if reuse_models else "refit")


def _run(
    data: str, out: Path | None, cfg: Config, planned_offers: Path | None, reuse_models: bool | None, offer_rules: Path | None
) -> None:
    cfg = _with_reuse(cfg, reuse_models)
    from offerwise import pipeline
    from offerwise.pipeline.duration import expected_sentence

    out = _run_folder(out, data)
    lines = pipeline.preflight(data, out, planned_offers=planned_offers, offer_rules=offer_rules)  # before anything is written
    expected = EXPECTED_MINUTES[data] if lines is None else expected_sentence(lines, cfg, cfg.model.threads or None)
    console.print(
        f"offerwise: {data} -> {out}. The backtest (the decision one fortnight before the data ends, scored against it), then the "
        f"plan for the fortnight after the data. {expected}; rerun the same line to resume.",
        soft_wrap=True,
        highlight=False,
    )
    with output_folder(out):  # e.g. a category with no data: leave nothing behind
        plan = pipeline.run(data, out, cfg, planned_offers=planned_offers, offer_rules=offer_rules, log=_log, checked=True)
    print_plan(console, plan)


@app.command("run")
@clear_errors
def run_command(
    data: Annotated[str, typer.Option("--data", help="complete-journey, simulated, or a folder.")] = "complete-journey",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default ./offerwise-out/<data>-<timestamp>); reuse it to resume.")
    ] = None,
    config: ConfigOption = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", metavar="", help="A small documented sample for a first look (400 consumers, 2 categories, 3 epochs)."),
    ] = False,
    planned_offers: PlannedOption = None,
    offer_rules: RulesOption = None,
    reuse_models: ReuseOption = None,
    engine: EngineOption = None,
    shards: ShardsOption = None,
) -> None:
    """Every stage end to end: the backtest (scored against the last fortnight) and the plan for the fortnight after the data."""
    _run(data, out, _config(config, quick).override("runtime", engine=engine, shards=shards), planned_offers, reuse_models, offer_rules)


# `recommend` is `run` under the name a retailer looks for: the forward plan, with the backtest as its evidence.
app.command(
    "recommend",
    help="Offers for the fortnight after the data ends (recommendations/offers.csv), with the backtest as evidence; an alias of run.",
)(run_command)


@app.command("measure")
@clear_errors
def measure_command(
    data: Annotated[str, typer.Option("--data", help="The export now including the decided fortnight (a layout `run --data` reads).")],
    run: Annotated[Path, typer.Option("--run", help="The run folder whose plan ran (recommendations/offers.parquet, experiment.json).")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML config: panel.end (the export's last day), experiment.level and experiment.bootstrap; default the run's config.json.",
        ),
    ] = None,
) -> None:
    """After the decided fortnight: plan − holdout per consumer with intervals, realised against predicted per arm, explore slopes."""
    from offerwise import pipeline

    cfg = Config.from_toml(config) if config is not None else None
    with console.status(f"measuring {run} on {data} ..."):
        result = pipeline.measure(data, run, cfg, log=_log)
    print_measurement(console, result)


@app.command("pool")
@clear_errors
def pool_command(
    run: Annotated[
        list[Path],
        typer.Option("--run", metavar="RUN", help="A run folder whose fortnight was measured (measurement/); one per fortnight."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the pooled summary.csv, by_category.csv and slopes.csv.")],
) -> None:
    """Several measured fortnights at once: each estimate of `measure` pooled (arms drawn afresh each fortnight)."""
    from offerwise import pipeline

    print_pooled(console, pipeline.pool(run, out))


def _config(path: Path | None, quick: bool) -> Config:
    cfg = Config.from_toml(path)
    if quick:
        cfg, changed = cfg.quick()
        console.print(f"[dim]--quick: {', '.join(changed) or 'nothing to change'}[/dim]", soft_wrap=True)
    return cfg


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
