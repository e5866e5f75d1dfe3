from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from offerwise.data.canonical import read_canonical
from offerwise.data.load import load_data
from offerwise.errors import InputError


def _write(folder: Path) -> Path:
    folder.mkdir()
    pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "item_id": [1, 2, 1],
            "timestamp": ["2020-01-01 10:00:00", "2020-01-01 10:00:00", "2020-01-20 09:00:00"],
            "basket_id": [7, 7, 8],
            "quantity": [1, 1, 2],
            "paid": [9.0, 5.0, 10.0],
            "retail_discount": [1.0, 0.0, 10.0],
            "coupon_discount": [0.0, 0.0, 0.0],
        }
    ).write_csv(folder / "transactions.csv")
    pl.DataFrame({"item_id": [1, 2], "category": ["A", "B"], "brand": ["x", "y"], "brand_type": ["N", "P"]}).write_parquet(
        folder / "items.parquet"
    )
    return folder


def test_reads_canonical_files(tmp_path: Path) -> None:
    data = load_data(_write(tmp_path / "c"))
    tx = data.transactions.sort("customer_id", "item_id")
    assert tx.get_column("offer_pct").to_list() == pytest.approx([10.0, 0.0, 50.0])
    assert tx.get_column("list_price").to_list() == pytest.approx([10.0, 5.0, 10.0])
    assert tx.get_column("basket_id").to_list() == [7, 7, 8]


def test_bad_timestamp(tmp_path: Path) -> None:
    folder = _write(tmp_path / "c")
    tx = pl.read_csv(folder / "transactions.csv").with_columns(timestamp=pl.lit("yesterday"))
    tx.write_csv(folder / "transactions.csv")
    with pytest.raises(InputError, match=r"transactions.csv, column 'timestamp'"):
        read_canonical(folder)


def test_unknown_layout_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="unknown layout"):
        load_data(tmp_path / "empty")
    with pytest.raises(InputError, match="no such folder"):
        load_data(tmp_path / "absent")
