"""Reader for the AmExpert 2019 layout (the paper's dataset), also what the simulator writes."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from offerwise.data.clean import CleaningReport, UnknownItemPolicy, clean_transactions
from offerwise.data.files import find_input, require_input
from offerwise.data.sanity import near_duplicate_names
from offerwise.data.schema import LoadReport, RetailData
from offerwise.data.validate import cast_strict, parse_dates, read_table, require_columns, require_rows, text_column
from offerwise.errors import input_error

# File names without their suffix: each is read as .csv, .csv.gz or .parquet (data/files.py).
TRANSACTIONS = "customer_transaction_data"
ITEMS = "item_data"
DEMOGRAPHICS = "customer_demographics"
CAMPAIGNS = "campaign_data"
COUPON_ITEMS = "coupon_item_mapping"
COUPON_TARGETS = "train"
INPUTS = (TRANSACTIONS, ITEMS, DEMOGRAPHICS, CAMPAIGNS, COUPON_ITEMS, COUPON_TARGETS)
TRANSACTION_COLUMNS = ["date", "customer_id", "item_id", "quantity", "selling_price", "other_discount", "coupon_discount"]
DEMOGRAPHIC_COLUMNS = ["customer_id", "age_range", "marital_status", "rented", "family_size", "no_of_children", "income_bracket"]


def is_amexpert_folder(folder: Path) -> bool:
    return find_input(folder, TRANSACTIONS) is not None


def read_amexpert(folder: Path, *, unknown_items: UnknownItemPolicy = "drop") -> RetailData:
    """Load a folder in the AmExpert 2019 layout.

    Discounts are negative in these files and selling_price is the line's amount paid, so
    gross = selling_price - other_discount - coupon_discount and offer % = -other_discount / gross.
    """
    folder = Path(folder)
    report = CleaningReport(source=f"AmExpert 2019 layout ({folder})")
    items = read_items(require_input(folder, ITEMS), report)
    path = require_input(folder, TRANSACTIONS)
    raw = _raw_transactions(path)
    transactions = clean_transactions(raw, items, file=str(path), report=report, unknown_items=unknown_items, date_column="date")
    campaigns, coupons = _campaigns(folder)
    return RetailData(
        transactions=transactions,
        items=items,
        customers=_customers(folder, transactions, report),
        report=report,
        campaigns=campaigns,
        coupons=coupons,
        name=folder.name,
    )


def _raw_transactions(path: Path) -> pl.DataFrame:
    frame = read_table(path)
    file = str(path)
    require_columns(frame, TRANSACTION_COLUMNS, file=file)
    require_rows(frame, file=file, what="transaction lines")
    quantity = cast_strict(frame, "quantity", pl.Float64(), file=file)
    paid = cast_strict(frame, "selling_price", pl.Float64(), file=file)
    other = cast_strict(frame, "other_discount", pl.Float64(), file=file, required=False)
    coupon = cast_strict(frame, "coupon_discount", pl.Float64(), file=file, required=False)
    # Checked here, in the file's own terms: a return (quantity < 0) may carry amounts of either
    # sign; it is dropped and counted by the cleaning, whatever they are.
    sale = quantity >= 0
    for name, wrong, problem in (
        ("other_discount", other > 0, "positive discounts; this layout stores discounts as negative numbers."),
        ("coupon_discount", coupon > 0, "positive discounts; this layout stores discounts as negative numbers."),
        ("selling_price", paid < 0, "negative amounts on lines with a positive quantity (returns, with a negative quantity, are dropped)."),
    ):
        if (wrong & sale).any():
            raise input_error(file=file, column=name, problem=problem, examples=frame.filter(wrong & sale))
    return pl.DataFrame(
        {
            "customer_id": cast_strict(frame, "customer_id", pl.Int64(), file=file),
            "item_id": cast_strict(frame, "item_id", pl.Int64(), file=file),
            "timestamp": cast_strict(frame, "date", pl.Datetime("us"), file=file),
            "basket_id": pl.Series([None] * frame.height, dtype=pl.Int64),
            "quantity": quantity,
            "paid": paid,
            "retail_discount": 0.0 - other,
            "coupon_discount": 0.0 - coupon,
        }
    )


def read_items(path: Path, report: LoadReport) -> pl.DataFrame:
    """The item table from a .csv or .parquet file; extra (hierarchy) columns are kept as they are (Categorical ones as text).
    Names are trimmed of surrounding spaces (noted in the report); category names that differ only in
    case or spacing are an InputError (data/sanity.py)."""
    frame = read_table(path)
    file = str(path)
    require_columns(frame, ["item_id", "brand", "brand_type", "category"], file=file)
    require_rows(frame, file=file, what="items")
    # Categorical / Enum columns (what pandas 'category' columns become in Parquet) are read as their text.
    named = ["item_id", "category", "brand", "brand_type"]
    labels = [c for c, t in frame.schema.items() if c not in named and isinstance(t, (pl.Categorical, pl.Enum))]
    names = {c: text_column(frame, c, file=file) for c in named[1:]}
    _note_trimmed(names, report, file=file)
    items = frame.with_columns(
        *(text_column(frame, c, file=file) for c in labels),
        *(series.str.strip_chars().replace("", None).fill_null("UNKNOWN") for series in names.values()),
        item_id=cast_strict(frame, "item_id", pl.Int64(), file=file),
    )
    dups = items.filter(pl.col("item_id").is_duplicated())
    if dups.height:
        raise input_error(file=file, column="item_id", problem="item ids listed more than once.", examples=dups)
    near_duplicate_names(items, "category", file=file)
    return items.select(*named, pl.exclude(named))


def _note_trimmed(names: dict[str, pl.Series], report: LoadReport, *, file: str) -> None:
    """'Grocery ' and 'Grocery' are one category: surrounding spaces are removed, and counted."""
    for column, series in names.items():
        padded = int((series != series.str.strip_chars()).sum())
        if padded:
            report.notes.append(f"{padded:,} {column} name(s) of {Path(file).name} trimmed of surrounding spaces")


def _customers(folder: Path, transactions: pl.DataFrame, report: LoadReport) -> pl.DataFrame:
    """All transacting customers; demographics where the optional file has them (gaps stay null)."""
    customers = transactions.select("customer_id").unique().sort("customer_id")
    path = find_input(folder, DEMOGRAPHICS)
    if path is None:
        return customers
    frame = read_table(path)
    require_columns(frame, DEMOGRAPHIC_COLUMNS, file=str(path))
    demo = frame.select(DEMOGRAPHIC_COLUMNS).with_columns(customer_id=cast_strict(frame, "customer_id", pl.Int64(), file=str(path)))
    return join_customers(customers, demo, file=str(path), report=report)


def join_customers(customers: pl.DataFrame, extra: pl.DataFrame, *, file: str, report: LoadReport) -> pl.DataFrame:
    """The transacting customers with a customer file's attributes, one row per customer.

    A line repeated exactly is dropped and noted in the load report; one customer_id with different
    values is an InputError (which line is right cannot be known)."""
    rows = extra.height
    extra = extra.unique(maintain_order=True)
    if extra.height < rows:
        dropped = rows - extra.height
        report.notes.append(f"{dropped:,} exact duplicate line{'' if dropped == 1 else 's'} of {Path(file).name} dropped")
    repeated = extra.filter(pl.col("customer_id").is_duplicated()).sort("customer_id", maintain_order=True)
    if repeated.height:
        raise input_error(
            file=file,
            column="customer_id",
            problem="customer ids listed more than once with different values (which line is right cannot be known).",
            examples=repeated,
        )
    # Both sides' customers are kept: a customer with attributes but no purchases is still known.
    return customers.join(extra, on="customer_id", how="full", coalesce=True).sort("customer_id")


def _campaigns(folder: Path) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    paths = [find_input(folder, name) for name in (CAMPAIGNS, COUPON_ITEMS, COUPON_TARGETS)]
    if any(p is None for p in paths):
        return None, None
    campaigns = read_table(paths[0])
    require_columns(campaigns, ["campaign_id", "start_date", "end_date"], file=str(paths[0]))
    campaigns = pl.DataFrame(
        {
            "campaign_id": cast_strict(campaigns, "campaign_id", pl.Int64(), file=str(paths[0])),
            "start_date": parse_dates(campaigns, "start_date", "%d/%m/%y", file=str(paths[0])),
            "end_date": parse_dates(campaigns, "end_date", "%d/%m/%y", file=str(paths[0])),
        }
    )
    mapping = read_table(paths[1])
    require_columns(mapping, ["coupon_id", "item_id"], file=str(paths[1]))
    targets = read_table(paths[2])
    require_columns(targets, ["campaign_id", "coupon_id", "customer_id"], file=str(paths[2]))
    mapping = mapping.select(
        coupon_id=cast_strict(mapping, "coupon_id", pl.Int64(), file=str(paths[1])),
        item_id=cast_strict(mapping, "item_id", pl.Int64(), file=str(paths[1])),
    )
    targets = targets.select(
        campaign_id=cast_strict(targets, "campaign_id", pl.Int64(), file=str(paths[2])),
        coupon_id=cast_strict(targets, "coupon_id", pl.Int64(), file=str(paths[2])),
        customer_id=cast_strict(targets, "customer_id", pl.Int64(), file=str(paths[2])),
    )
    exposure = targets.join(campaigns, on="campaign_id").select("campaign_id", "customer_id", "start_date", "end_date").unique()
    coupons = targets.join(mapping, on="coupon_id").select("campaign_id", "item_id").unique()
    return exposure, coupons
