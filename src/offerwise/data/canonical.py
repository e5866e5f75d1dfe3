"""Reader for canonical files (a retailer's own export): transactions, items, customers as Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from offerwise.data.amexpert import join_customers, read_items
from offerwise.data.clean import CleaningReport, UnknownItemPolicy, clean_transactions
from offerwise.data.files import find_input
from offerwise.data.schema import RetailData
from offerwise.data.validate import cast_strict, read_table, require_columns, require_rows, text_column
from offerwise.errors import input_error

TEXT_LIKE = (pl.Categorical, pl.Enum, pl.Binary, pl.Object)
REQUIRED = ["customer_id", "item_id", "timestamp", "quantity", "paid", "retail_discount", "coupon_discount"]
INPUTS = ("transactions", "items", "customers")  # file names without suffix: .parquet, .csv or .csv.gz (data/files.py)


def is_canonical_folder(folder: Path) -> bool:
    return find_input(folder, "transactions") is not None


def read_canonical(folder: Path, *, unknown_items: UnknownItemPolicy = "drop") -> RetailData:
    """Load transactions, items and optional customers, each .parquet, .csv or .csv.gz."""
    folder = Path(folder)
    tx_path, item_path = find_input(folder, "transactions"), find_input(folder, "items")
    if tx_path is None or item_path is None:
        raise input_error(file=str(folder), column=None, problem="needs transactions and items files (.parquet, .csv or .csv.gz).")
    report = CleaningReport(source=f"canonical files ({folder})")
    items = read_items(item_path, report)
    frame, file = read_table(tx_path), str(tx_path)
    require_columns(frame, REQUIRED, file=file)
    require_rows(frame, file=file, what="transaction lines")
    timestamp = cast_strict(frame, "timestamp", pl.Datetime("us"), file=file)
    raw = pl.DataFrame(
        {
            "customer_id": cast_strict(frame, "customer_id", pl.Int64(), file=file),
            "item_id": cast_strict(frame, "item_id", pl.Int64(), file=file),
            "timestamp": timestamp,
            "basket_id": cast_strict(frame, "basket_id", pl.Int64(), file=file, required=False)
            if "basket_id" in frame.columns
            else pl.Series([None] * frame.height, dtype=pl.Int64),
            "quantity": cast_strict(frame, "quantity", pl.Float64(), file=file),
            "paid": cast_strict(frame, "paid", pl.Float64(), file=file),
            "retail_discount": cast_strict(frame, "retail_discount", pl.Float64(), file=file, required=False),
            "coupon_discount": cast_strict(frame, "coupon_discount", pl.Float64(), file=file, required=False),
        }
    )
    transactions = clean_transactions(raw, items, file=file, report=report, unknown_items=unknown_items)
    customers = transactions.select("customer_id").unique().sort("customer_id")
    if (cust_path := find_input(folder, "customers")) is not None:
        extra, cust_file = read_table(cust_path), str(cust_path)
        require_columns(extra, ["customer_id"], file=cust_file)
        # Attributes become categorical features: Categorical / Enum columns are read as their text,
        # a type that cannot be one (list, struct, binary) is an error naming the column.
        odd = [c for c, t in extra.schema.items() if c != "customer_id" and (isinstance(t, TEXT_LIKE) or t.is_nested())]
        extra = extra.with_columns(
            *(text_column(extra, c, file=cust_file) for c in odd),
            customer_id=cast_strict(extra, "customer_id", pl.Int64(), file=cust_file),
        )
        customers = join_customers(customers, extra, file=cust_file, report=report)
    return RetailData(transactions=transactions, items=items, customers=customers, report=report, name=folder.name)
