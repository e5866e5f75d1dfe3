"""The option types several `offerwise` commands share (cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataOption = Annotated[str, typer.Option("--data", help="'complete-journey' or a folder (AmExpert layout or canonical files).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML config file.")]

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine", help="Where shard tasks run: 'local' (this process) or 'ray' (pip install 'offerwise\\[ray]'); runtime.engine."
    ),
]
ShardsOption = Annotated[
    int | None, typer.Option("--shards", help="Consumer shards, hash(customer_id) mod N, N <= 128 (runtime.shards; 1 = one panel file).")
]

PlannedOption = Annotated[
    Path | None,
    typer.Option(
        "--planned-offers",
        help="The retailer's planned offers for the fortnight after the data (CSV or Parquet: item_id, optional customer_id, offer_pct).",
    ),
]

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--offer-rules",
        help="The offer levels each category may use (CSV or Parquet: category, levels or min/max/step, allow_no_offer).",
    ),
]

ReuseOption = Annotated[
    bool | None,
    typer.Option(
        "--reuse-models/--refit-models",
        show_default=False,
        help="The forward plan scores with the backtest's models (the default), or refits them one fortnight later (model.forward_models).",
    ),
]
