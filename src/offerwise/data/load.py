"""One entry point: a data source name or folder -> canonical tables."""

from __future__ import annotations

from pathlib import Path

from offerwise.data.amexpert import is_amexpert_folder, read_amexpert
from offerwise.data.canonical import is_canonical_folder, read_canonical
from offerwise.data.clean import UnknownItemPolicy
from offerwise.data.complete_journey import read_complete_journey
from offerwise.data.schema import RetailData
from offerwise.errors import input_error

COMPLETE_JOURNEY = "complete-journey"


def load_data(source: str | Path, *, unknown_items: UnknownItemPolicy = "drop", with_promotions: bool = True) -> RetailData:
    """`complete-journey` (embedded default), or a folder in the AmExpert or canonical layout."""
    if str(source) == COMPLETE_JOURNEY:
        return read_complete_journey(unknown_items=unknown_items, with_promotions=with_promotions)
    folder = Path(source)
    if not folder.is_dir():
        raise input_error(file=str(folder), column=None, problem=f"no such folder; give a folder of data files or '{COMPLETE_JOURNEY}'.")
    if is_amexpert_folder(folder):
        return read_amexpert(folder, unknown_items=unknown_items)
    if is_canonical_folder(folder):
        return read_canonical(folder, unknown_items=unknown_items)
    raise input_error(
        file=str(folder),
        column=None,
        problem="unknown layout: expected customer_transaction_data.csv (AmExpert 2019) or transactions.parquet/.csv (canonical).",
    )
