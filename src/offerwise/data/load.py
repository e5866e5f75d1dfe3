"""One entry point: a data source name or folder -> canonical tables."""

from __future__ import annotations

from pathlib import Path

from offerwise.config import DataConfig
from offerwise.data import amexpert, canonical
from offerwise.data.amexpert import is_amexpert_folder, read_amexpert
from offerwise.data.canonical import is_canonical_folder, read_canonical
from offerwise.data.clean import UnknownItemPolicy
from offerwise.data.complete_journey import read_complete_journey
from offerwise.data.files import find_input, similar_files
from offerwise.data.offer_rules import RULES
from offerwise.data.plans import HISTORY, PLANNED
from offerwise.data.sanity import drop_catch_all_consumers
from offerwise.data.schema import RetailData
from offerwise.errors import input_error

COMPLETE_JOURNEY = "complete-journey"


def load_data(
    source: str | Path,
    *,
    unknown_items: UnknownItemPolicy = "drop",
    with_promotions: bool = True,
    max_lines_per_consumer_ratio: float = DataConfig().max_lines_per_consumer_ratio,
) -> RetailData:
    """`complete-journey` (embedded default), or a folder in the AmExpert or canonical layout.
    `max_lines_per_consumer_ratio` > 0: a consumer with more lines than this many times the median
    consumer's (a store card swiped for walk-in customers) is dropped and counted (data/sanity.py)."""
    data = _read(source, unknown_items=unknown_items, with_promotions=with_promotions)
    if max_lines_per_consumer_ratio > 0:
        data = drop_catch_all_consumers(data, max_lines_per_consumer_ratio)
    return data


def _read(source: str | Path, *, unknown_items: UnknownItemPolicy, with_promotions: bool) -> RetailData:
    if str(source) == COMPLETE_JOURNEY:
        return read_complete_journey(unknown_items=unknown_items, with_promotions=with_promotions)
    folder = Path(source)
    if not folder.is_dir():
        raise input_error(file=str(folder), column=None, problem=f"no such folder; give a folder of data files or '{COMPLETE_JOURNEY}'.")
    layout = _layout(folder)
    if layout == "amexpert":
        return read_amexpert(folder, unknown_items=unknown_items)
    return read_canonical(folder, unknown_items=unknown_items)


def _layout(folder: Path) -> str:
    """'amexpert' or 'canonical'; a folder with both layouts' transactions, or neither, is an InputError."""
    amex, canon = is_amexpert_folder(folder), is_canonical_folder(folder)
    if amex and canon:
        both = f"{find_input(folder, amexpert.TRANSACTIONS).name} (AmExpert 2019) and {find_input(folder, 'transactions').name} (canonical)"
        raise input_error(
            file=str(folder), column=None, problem=f"{both} are both here; which one holds the data cannot be known. Keep one of them."
        )
    if not amex and not canon:
        others = similar_files(folder, (amexpert.TRANSACTIONS, "transactions"))
        found = f" Found {', '.join(others)}: save it as CSV (comma-separated, UTF-8)." if others else ""
        raise input_error(
            file=str(folder),
            column=None,
            problem="unknown layout: expected customer_transaction_data.csv (AmExpert 2019) or transactions.csv (canonical), "
            f"each also as .csv.gz or .parquet.{found}",
        )
    return "amexpert" if amex else "canonical"


def input_files(source: str | Path) -> list[Path]:
    """The files of a data folder that offerwise reads (the layout's tables, the offer records and rules):
    what resume fingerprints. Other files in the folder (a README, .DS_Store) change nothing."""
    folder = Path(source)
    if not folder.is_dir():
        return []
    stems = amexpert.INPUTS if is_amexpert_folder(folder) else canonical.INPUTS
    found = (find_input(folder, stem) for stem in (*stems, PLANNED, HISTORY, RULES))
    return [path for path in found if path is not None]
