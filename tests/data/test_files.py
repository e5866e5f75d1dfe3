"""Which file is each input, and is it a text CSV (data/files.py): every case one line naming the file
and what it is, or read as it is."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.data.load import input_files, load_data
from offerwise.data.plans import find_plan_file
from offerwise.errors import InputError
from tests.conftest import ITEMS_CSV, TX_HEADER, write_amexpert

runner = CliRunner()
TX = "customer_transaction_data.csv"
LINES = "".join(
    f"2017-01-{d % 28 + 1:02d},{d % 5 + 1},{d % 3 + 1},1,{8.0 if d % 4 == 0 else 10.0},{-2.0 if d % 4 == 0 else 0.0},0.0\n"
    for d in range(60)
)


def _folder(tmp_path: Path) -> Path:
    return write_amexpert(tmp_path / "data", TX_HEADER + LINES, ITEMS_CSV)


def _one_line(folder: Path, *needles: str) -> str:
    result = runner.invoke(app, ["data", "summary", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---- case 10: .csv.gz and .parquet variants of every input name


def test_gzip_and_parquet_variants_of_every_input_are_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    plain = load_data(folder).transactions
    (folder / f"{TX}.gz").write_bytes(gzip.compress((folder / TX).read_bytes()))
    (folder / TX).unlink()
    pl.read_csv(folder / "item_data.csv").write_parquet(folder / "item_data.parquet")
    (folder / "item_data.csv").unlink()
    assert load_data(folder).transactions.equals(plain)
    assert {p.name for p in input_files(folder)} == {f"{TX}.gz", "item_data.parquet"}


# ---- case 6: two candidate files for one input


def test_two_files_for_one_input_are_refused_naming_both(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "planned_offers.csv").write_text("item_id,offer_pct\n1,10\n")
    pl.DataFrame({"item_id": [1], "offer_pct": [5.0]}).write_parquet(folder / "planned_offers.parquet")
    with pytest.raises(InputError, match=r"planned_offers.parquet and planned_offers.csv are both here; .* Keep one of them"):
        find_plan_file(folder, "planned_offers")
    (folder / "item_data.csv.gz").write_bytes(gzip.compress(ITEMS_CSV.encode()))
    _one_line(folder, "item_data.csv and item_data.csv.gz are both here")


def test_both_layouts_in_one_folder_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "transactions.csv").write_text("customer_id,item_id,timestamp,quantity,paid,retail_discount,coupon_discount\n")
    _one_line(folder, f"{TX} (AmExpert 2019) and transactions.csv (canonical) are both here")


# ---- cases 9, 12, 13: files that are not comma-separated UTF-8 text


def test_semicolon_file_with_decimal_commas_names_both(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    text = (TX_HEADER + LINES).replace(",", ";").replace(".", ",")
    (folder / TX).write_text(text)
    _one_line(folder, TX, "fields are separated by ';', not commas", "decimal comma ('8,0' on line 2)")
    (folder / TX).write_text((TX_HEADER + LINES).replace(",", "\t"))
    _one_line(folder, "fields are separated by tabs, not commas.")


@pytest.mark.parametrize(
    "content, says",
    [
        ("xlsx", "a ZIP archive (an Excel .xlsx workbook?), not a text CSV file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "an Excel .xls workbook"),
        ("parquet", "a Parquet file named .csv; rename it to .parquet"),
        (b"date,customer_id\x00\x01\x02\n", "a binary file (it holds NUL bytes)"),
    ],
)
def test_spreadsheets_and_binary_files_named_csv_are_named_as_such(tmp_path: Path, content: object, says: str) -> None:
    folder = _folder(tmp_path)
    if content == "xlsx":
        with zipfile.ZipFile(folder / TX, "w") as book:
            book.writestr("xl/worksheets/sheet1.xml", "<sheetData/>")
    elif content == "parquet":
        pl.read_csv(folder / TX).write_parquet(folder / "tx.parquet")
        (folder / "tx.parquet").rename(folder / TX)
    else:
        (folder / TX).write_bytes(content)
    _one_line(folder, TX, says)


def test_latin1_text_names_the_first_line_that_is_not_utf8(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "item_data.csv").write_bytes(ITEMS_CSV.replace("Local", "Épicerie").encode("latin-1"))
    _one_line(folder, "item_data.csv: not UTF-8 text: line 3 has the byte 0xc9", "Save the file as UTF-8")
    (folder / "item_data.csv").write_bytes(ITEMS_CSV.replace("Local", "Épicerie").encode("utf-8"))
    assert "Épicerie" in load_data(folder).items.get_column("brand_type").to_list()


def test_truncated_gzip_is_one_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    packed = gzip.compress((folder / TX).read_bytes())
    (folder / f"{TX}.gz").write_bytes(packed[: len(packed) // 2])
    (folder / TX).unlink()
    _one_line(folder, f"{TX}.gz")


def test_upper_case_suffixes_are_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / TX).rename(folder / "customer_transaction_data.CSV")
    assert load_data(folder).report.kept_lines == 60


def test_utf16_text_is_named_as_such(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / TX).write_bytes((TX_HEADER + LINES).encode("utf-16"))
    _one_line(folder, TX, "UTF-16 text", "save it as 'CSV UTF-8'")


def test_a_workbook_under_an_input_name_is_pointed_at(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    with zipfile.ZipFile(folder / "transactions.xlsx", "w") as book:
        book.writestr("xl/worksheets/sheet1.xml", "<sheetData/>")
    _one_line(folder, "unknown layout", "Found transactions.xlsx: save it as CSV")
