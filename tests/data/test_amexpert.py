from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from offerwise.data.amexpert import read_amexpert
from offerwise.errors import InputError
from tests.conftest import ITEMS_CSV, TX_HEADER, write_amexpert


def test_reads_discounts_as_positive_and_derives_offer(amexpert_dir: Path) -> None:
    data = read_amexpert(amexpert_dir)
    tx = data.transactions.sort("customer_id", "item_id")
    first = tx.row(0, named=True)
    assert first["retail_discount"] == 20.0
    assert first["list_price"] == 100.0  # 80 paid + 20 offer, one unit
    assert first["offer_pct"] == pytest.approx(20.0)
    second = tx.row(1, named=True)
    assert second["coupon_discount"] == 10.0
    assert second["list_price"] == pytest.approx(30.0)  # (50 + 10) / 2
    assert second["offer_pct"] == 0.0
    assert data.report.kept_lines == 3


def test_demographics_keep_gaps_and_strings(amexpert_dir: Path) -> None:
    customers = read_amexpert(amexpert_dir).customers.sort("customer_id")
    assert customers.get_column("customer_id").to_list() == [1, 2]
    assert customers.row(0, named=True)["family_size"] == "5+"
    assert customers.row(1, named=True)["age_range"] is None


def test_messy_folder_is_cleaned_and_counted(tmp_path: Path) -> None:
    tx = TX_HEADER + (
        "2012-01-02,1,1,1,80.0,-20.0,0.0\n"
        "2012-01-02,1,1,1,80.0,-20.0,0.0\n"  # exact duplicate
        "2012-01-03,1,2,-1,50.0,0.0,0.0\n"  # return
        "2012-01-03,1,2,0,0.0,0.0,0.0\n"  # zero quantity
        "2012-01-04,2,3,1,10.0,,\n"  # missing discounts
        "2012-01-05,2,99,1,10.0,0.0,0.0\n" + "".join(f"2012-02-{d:02d},3,1,1,5.0,0.0,0.0\n" for d in range(1, 28))  # item not in item table
    )
    data = read_amexpert(write_amexpert(tmp_path / "messy", tx, ITEMS_CSV))
    r = data.report
    assert (r.raw_lines, r.duplicates_dropped, r.returns_dropped, r.zero_quantity_dropped) == (33, 1, 1, 1)
    assert (r.unknown_item_lines_dropped, r.missing_discounts_filled, r.kept_lines) == (1, 2, 29)
    assert data.transactions.filter(pl.col("customer_id") == 2).get_column("retail_discount").to_list() == [0.0]


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("2012-13-45,1,1,1,80.0,-20.0,0.0", "date", "do not parse"),
        ("2012-01-02,1,1,1,abc,-20.0,0.0", "selling_price", "not numbers"),
        ("2012-01-02,1,1,1,-5.0,0.0,0.0", "selling_price", "negative amounts"),  # the file's column, not the internal "paid"
        ("2012-01-02,x,1,1,5.0,0.0,0.0", "customer_id", "not whole numbers"),
        ("2012-01-02,1,1,1,5.0,2.0,0.0", "other_discount", "positive discounts"),
        ("2012-01-02,1,,1,5.0,0.0,0.0", "item_id", "missing values"),
    ],
)
def test_bad_values_name_file_column_and_rows(tmp_path: Path, line: str, column: str, message: str) -> None:
    folder = write_amexpert(tmp_path / "bad", TX_HEADER + line + "\n", ITEMS_CSV)
    with pytest.raises(InputError, match=rf"customer_transaction_data.csv, column '{column}': .*{message}.*Examples"):
        read_amexpert(folder)


def test_missing_file_and_column(tmp_path: Path) -> None:
    folder = write_amexpert(tmp_path / "nofile", TX_HEADER, ITEMS_CSV)
    (folder / "item_data.csv").unlink()
    with pytest.raises(InputError, match="required file 'item_data.csv' is missing"):
        read_amexpert(folder)
    folder = write_amexpert(tmp_path / "nocol", "date,customer_id,item_id\n2012-01-02,1,1\n", ITEMS_CSV)
    with pytest.raises(InputError, match=r"column 'quantity': required column"):
        read_amexpert(folder)


def test_unknown_items_error_policy_and_wrong_item_file(tmp_path: Path) -> None:
    tx = TX_HEADER + "2012-01-02,1,1,1,80.0,-20.0,0.0\n2012-01-02,1,99,1,80.0,-20.0,0.0\n"
    folder = write_amexpert(tmp_path / "unknown", tx, ITEMS_CSV)
    with pytest.raises(InputError, match=r"column 'item_id': items missing from the item table"):
        read_amexpert(folder, unknown_items="error")
    # Half the lines unknown: the item file is probably the wrong one, even under "drop".
    with pytest.raises(InputError, match="suggests the wrong item file"):
        read_amexpert(folder)


def test_campaign_files_give_coupon_exposure(amexpert_dir: Path) -> None:
    (amexpert_dir / "campaign_data.csv").write_text("campaign_id,campaign_type,start_date,end_date\n8,X,21/10/12,20/12/12\n")
    (amexpert_dir / "coupon_item_mapping.csv").write_text("coupon_id,item_id\n5,1\n5,2\n")
    (amexpert_dir / "train.csv").write_text("id,campaign_id,coupon_id,customer_id,redemption_status\n1,8,5,1,0\n")
    data = read_amexpert(amexpert_dir)
    assert data.campaigns.row(0, named=True)["start_date"].isoformat() == "2012-10-21"
    assert sorted(data.coupons.get_column("item_id").to_list()) == [1, 2]
