"""The `offerwise` command line: parses options and calls stages; holds no logic."""

from __future__ import annotations

import functools
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


def main() -> None:  # pragma: no cover
    app()
