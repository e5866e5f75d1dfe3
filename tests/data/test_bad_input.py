"""Every bad input ends in exit code 2 and one line naming the file and the column; nothing is silently wrong."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.data.load import load_data
from tests.conftest import ITEMS_CSV, TX_HEADER, write_amexpert

runner = CliRunner()
AMEX_TX = "customer_transaction_data.csv"


def _good_lines(n: int = 120, start: dt.date = dt.date(2017, 1, 2)) -> list[str]:
    """AmExpert lines over ~4 months: 5 customers, 3 items, unit price 10, some offers."""
    return [
        f"{start + dt.timedelta(days=i)},{i % 5 + 1},{i % 3 + 1},1,{8.0 if i % 4 == 0 else 10.0},{-2.0 if i % 4 == 0 else 0.0},0.0"
        for i in range(n)
    ]


def _amex(*lines: str, items: str = ITEMS_CSV, good: int = 120, extra: dict[str, str] | None = None) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        write_amexpert(folder, TX_HEADER + "\n".join([*_good_lines(good), *lines]) + "\n", items)
        for name, text in (extra or {}).items():
            (folder / name).write_text(text)

    return write


def _canonical_frame(n: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [i % 4 + 1 for i in range(n)],
            "item_id": [i % 2 + 1 for i in range(n)],
            "timestamp": [f"2020-01-{i % 28 + 1:02d} 10:{i % 60:02d}:00" for i in range(n)],
            "quantity": [1.0] * n,
            "paid": [9.0] * n,
            "retail_discount": [1.0] * n,
            "coupon_discount": [0.0] * n,
        }
    )


CANONICAL_ITEMS = pl.DataFrame({"item_id": [1, 2], "category": ["A", "B"], "brand": ["x", "y"], "brand_type": ["N", "P"]})


def _canonical(
    tx: Callable[[pl.DataFrame], pl.DataFrame] = lambda f: f,
    *,
    tx_format: str = "csv",
    items: pl.DataFrame = CANONICAL_ITEMS,
    items_format: str = "csv",
    truncate: str | None = None,
    raw_tx: str | None = None,
) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        frame = tx(_canonical_frame())
        tx_path, item_path = folder / f"transactions.{tx_format}", folder / f"items.{items_format}"
        if raw_tx is not None:
            tx_path.write_text(raw_tx)
        else:
            frame.write_csv(tx_path) if tx_format == "csv" else frame.write_parquet(tx_path)
        items.write_csv(item_path) if items_format == "csv" else items.write_parquet(item_path)
        if truncate:
            path = folder / truncate
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return write


def _set(column: str, row: int, value: object, dtype: pl.DataType = pl.String()) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame.get_column(column).cast(dtype).to_list()
        values[row] = value
        return frame.with_columns(pl.Series(column, values, dtype=dtype))

    return change


class Case(NamedTuple):
    write: Callable[[Path], None]
    file: str
    column: str | None
    says: str
    config: str | None = None


CSV_TX, PQ_TX = "transactions.csv", "transactions.parquet"
LOAD_CASES = {
    # AmExpert layout
    "dates-some-unparseable": Case(
        _amex("2017-13-45,1,1,1,10.0,0.0,0.0", "02/01/2017,1,1,1,10.0,0.0,0.0", "soon,1,1,1,10.0,0.0,0.0"),
        AMEX_TX,
        "date",
        "(3 rows in all)",
    ),
    "price-not-a-number": Case(_amex("2017-01-02,1,1,1,abc,0.0,0.0"), AMEX_TX, "selling_price", "not numbers"),
    "price-nan": Case(_amex("2017-01-02,1,1,1,NaN,0.0,0.0"), AMEX_TX, "selling_price", "not finite"),
    "quantity-inf": Case(_amex("2017-01-02,1,1,inf,10.0,0.0,0.0"), AMEX_TX, "quantity", "not finite"),
    "discount-nan": Case(_amex("2017-01-02,1,1,1,10.0,nan,0.0"), AMEX_TX, "other_discount", "not finite"),
    "discount-positive": Case(_amex("2017-01-02,1,1,1,10.0,2.0,0.0"), AMEX_TX, "other_discount", "positive discounts"),
    "customer-id-text": Case(_amex("2017-01-02,x,1,1,10.0,0.0,0.0"), AMEX_TX, "customer_id", "not whole numbers"),
    "item-id-fraction": Case(_amex("2017-01-02,1,1.5,1,10.0,0.0,0.0"), AMEX_TX, "item_id", "not whole numbers"),
    "item-id-missing": Case(_amex("2017-01-02,1,,1,10.0,0.0,0.0"), AMEX_TX, "item_id", "missing values"),
    "header-only": Case(_amex(good=0), AMEX_TX, None, "no transaction lines"),
    "empty-file": Case(lambda f: write_amexpert(f, "", ITEMS_CSV), AMEX_TX, None, "not a readable CSV"),
    "every-price-zero": Case(
        lambda f: write_amexpert(f, TX_HEADER + "2017-01-02,1,1,1,0.0,0.0,0.0\n2017-01-03,2,2,1,0.0,0.0,0.0\n", ITEMS_CSV),
        AMEX_TX,
        None,
        "no lines left after cleaning",
    ),
    "column-missing": Case(
        lambda f: write_amexpert(f, "date,customer_id,item_id\n2017-01-02,1,1\n", ITEMS_CSV), AMEX_TX, "quantity", "required column"
    ),
    "item-file-missing": Case(lambda f: (_amex()(f), (f / "item_data.csv").unlink()), "item_data.csv", None, "is missing"),
    "item-file-id-text": Case(_amex(items=ITEMS_CSV + "abc,13,Local,Meat\n"), "item_data.csv", "item_id", "not whole numbers"),
    "item-file-duplicate-id": Case(_amex(items=ITEMS_CSV + "1,13,Local,Meat\n"), "item_data.csv", "item_id", "more than once"),
    "item-file-no-category": Case(_amex(items="item_id,brand,brand_type\n1,10,Local\n"), "item_data.csv", "category", "required column"),
    "unknown-item-strict": Case(
        _amex("2017-01-02,1,99,1,10.0,0.0,0.0"),
        AMEX_TX,
        "item_id",
        "missing from the item table",
        config='[data]\nunknown_items = "error"\n',
    ),
    "demographics-id-text": Case(
        _amex(
            extra={
                "customer_demographics.csv": "customer_id,age_range,marital_status,rented,family_size,no_of_children,income_bracket\n"
                "one,46-55,Married,0,2,1,4\n"
            }
        ),
        "customer_demographics.csv",
        "customer_id",
        "not whole numbers",
    ),
    "campaign-date-unparseable": Case(
        _amex(
            extra={
                "campaign_data.csv": "campaign_id,campaign_type,start_date,end_date\n8,X,2012-10-21,20/12/12\n",
                "coupon_item_mapping.csv": "coupon_id,item_id\n5,1\n",
                "train.csv": "id,campaign_id,coupon_id,customer_id,redemption_status\n1,8,5,1,0\n",
            }
        ),
        "campaign_data.csv",
        "start_date",
        "(1 row in all)",
    ),
    # canonical layout
    "timestamp-unparseable": Case(_canonical(_set("timestamp", 3, "yesterday")), CSV_TX, "timestamp", "(1 row in all)"),
    "quantity-nan": Case(_canonical(_set("quantity", 2, "nan")), CSV_TX, "quantity", "not finite"),
    "paid-negative": Case(_canonical(_set("paid", 2, "-4.0")), CSV_TX, "paid", "negative amounts"),
    "paid-missing-column": Case(_canonical(lambda f: f.drop("paid")), CSV_TX, "paid", "required column"),
    "canonical-header-only": Case(
        _canonical(raw_tx="customer_id,item_id,timestamp,quantity,paid,retail_discount,coupon_discount\n"),
        CSV_TX,
        None,
        "no transaction lines",
    ),
    "parquet-truncated": Case(_canonical(tx_format="parquet", truncate=PQ_TX), PQ_TX, None, "not a readable Parquet file"),
    "parquet-items-truncated": Case(
        _canonical(items_format="parquet", truncate="items.parquet"), "items.parquet", None, "not a readable Parquet file"
    ),
    "parquet-id-fraction": Case(
        _canonical(_set("item_id", 0, 1.5, pl.Float64()), tx_format="parquet"), PQ_TX, "item_id", "not whole numbers"
    ),
    "parquet-quantity-inf": Case(
        _canonical(_set("quantity", 0, float("inf"), pl.Float64()), tx_format="parquet"), PQ_TX, "quantity", "not finite"
    ),
    "parquet-items-id-text": Case(
        _canonical(items=CANONICAL_ITEMS.with_columns(pl.Series("item_id", ["1", "two"])), items_format="parquet"),
        "items.parquet",
        "item_id",
        "not whole numbers",
    ),
    "customers-id-text": Case(
        lambda f: (_canonical()(f), (f / "customers.csv").write_text("customer_id,age\n1,30\nbob,40\n")),
        "customers.csv",
        "customer_id",
        "not whole numbers",
    ),
}


def _invoke(args: list[str], config: str | None, tmp_path: Path):
    if config is not None:
        (tmp_path / "cfg.toml").write_text(config)
        args = [*args, "--config", str(tmp_path / "cfg.toml")]
    return runner.invoke(app, args)


def _assert_one_clear_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _needles(case: Case) -> list[str]:
    return [case.file, case.says] + ([f"column '{case.column}'"] if case.column else [])


@pytest.mark.parametrize("name", LOAD_CASES)
def test_data_summary_names_file_and_column(tmp_path: Path, name: str) -> None:
    case = LOAD_CASES[name]
    case.write(tmp_path / "data")
    result = _invoke(["data", "summary", "--data", str(tmp_path / "data")], case.config, tmp_path)
    _assert_one_clear_line(result, *_needles(case))


@pytest.mark.parametrize("name", ["dates-some-unparseable", "header-only", "every-price-zero", "parquet-truncated", "quantity-nan"])
def test_prepare_stops_before_writing(tmp_path: Path, name: str) -> None:
    case = LOAD_CASES[name]
    case.write(tmp_path / "data")
    result = _invoke(["prepare", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "p")], case.config, tmp_path)
    _assert_one_clear_line(result, *_needles(case))
    assert not (tmp_path / "p").exists()


LATE_CASES = {
    "too-few-periods": (_amex(good=20), None, ["Too little history", "Use fewer folds"]),
    "bad-config-lag-windows": (_amex(), "[panel]\nlag_windows = [0, 2]\n", ["cfg.toml", "'panel.lag_windows'", ">= 1"]),
    "bad-config-percentiles": (_amex(), "[optimize]\noffer_range_percentiles = [95, 5]\n", ["'optimize.offer_range_percentiles'"]),
}


@pytest.mark.parametrize("name", LATE_CASES)
def test_prepare_late_failures_are_clear_and_write_nothing(tmp_path: Path, name: str) -> None:
    write, config, needles = LATE_CASES[name]
    write(tmp_path / "data")
    result = _invoke(["prepare", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "p")], config, tmp_path)
    _assert_one_clear_line(result, *needles)
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


# ---- the silent cases: repaired or dropped, and counted


def _load(write: Callable[[Path], None], folder: Path):
    write(folder)
    return load_data(folder)


def test_outlier_quantities_are_dropped_and_counted(tmp_path: Path) -> None:
    clean = _load(_amex(), tmp_path / "clean")
    messy = _load(_amex("2017-02-01,1,1,1000000,10.0,0.0,0.0", "2017-02-02,2,1,1000000000000,10.0,0.0,0.0"), tmp_path / "messy")
    assert messy.report.quantity_outliers_dropped == 2
    assert messy.report.raw_lines == clean.report.raw_lines + 2 and messy.report.kept_lines == clean.report.kept_lines
    assert messy.transactions.equals(clean.transactions)  # so no price feature moves
    assert any("quantity over 1,000x" in note and "1000000000000.0" in note for note in messy.report.notes)
    assert ("quantity outliers (over 1,000x the item's median) dropped", "2") in messy.report.as_rows()


def test_outlier_unit_prices_are_dropped_and_counted(tmp_path: Path) -> None:
    clean = _load(_amex(), tmp_path / "clean")
    # A one-line item (no item median to compare with) at a price 10^6 times every other line's.
    messy = _load(_amex("2017-02-01,1,3,1,10000000.0,0.0,0.0", "2017-02-03,4,2,1,0.000001,0.0,0.0"), tmp_path / "messy")
    assert messy.report.price_outliers_dropped == 2
    assert messy.transactions.equals(clean.transactions)


def test_ordinary_spread_of_quantities_and_prices_is_kept(tmp_path: Path) -> None:
    data = _load(_amex("2017-02-01,1,1,40,400.0,0.0,0.0", "2017-02-02,2,2,1,250.0,0.0,0.0"), tmp_path / "ok")
    assert data.report.quantity_outliers_dropped == data.report.price_outliers_dropped == 0
    assert data.report.kept_lines == 122


def test_far_future_dates_are_dropped_and_counted(tmp_path: Path) -> None:
    future = [f"2031-03-{d % 28 + 1:02d},{d % 5 + 1},1,1,10.0,0.0,0.0" for d in range(50)]
    data = _load(_amex(*future, good=300), tmp_path / "future")
    assert data.report.far_dates_dropped == 50
    assert data.transactions.get_column("timestamp").max().year == 2017
    assert data.report.kept_lines + 50 == data.report.raw_lines
    assert any("2031-03-01, 2031-03-28" in note for note in data.report.notes)
    result = runner.invoke(app, ["data", "summary", "--data", str(tmp_path / "future")])
    assert result.exit_code == 0, result.output
    assert "to 2017-" in result.output and "far outside" in result.output


def test_mixed_iso_dates_in_one_column_are_accepted(tmp_path: Path) -> None:
    stamps = [
        "2017-01-02",
        "2017-01-02 10:00:00",
        "2017-01-02T10:00:00Z",
        "2017-01-02T10:00:00+01:00",
        "2017-01-02T23:30:00.250-0500",
        "2017-01-02 10:00",
    ]
    frame = _canonical_frame(len(stamps)).with_columns(timestamp=pl.Series(stamps), customer_id=pl.Series(range(len(stamps))))
    _canonical(lambda f: frame)(tmp_path / "c")
    got = load_data(tmp_path / "c").transactions.sort("customer_id").get_column("timestamp").to_list()
    # The wall-clock time as written: an offset or Z is read and dropped, never used to shift the day.
    assert [t.isoformat() for t in got] == [
        "2017-01-02T00:00:00", "2017-01-02T10:00:00", "2017-01-02T10:00:00", "2017-01-02T10:00:00", "2017-01-02T23:30:00.250000", "2017-01-02T10:00:00"
    ]  # fmt: skip
    amex = _load(_amex("2017-02-01 09:15:00,1,1,1,10.0,0.0,0.0", "2017-02-02T09:15:00Z,2,2,1,10.0,0.0,0.0"), tmp_path / "a")
    assert amex.report.kept_lines == 122


def test_load_report_balances_with_every_counter(tmp_path: Path) -> None:
    lines = [
        "2017-02-01,1,1,1000000,10.0,0.0,0.0",
        "2031-01-01,1,1,1,10.0,0.0,0.0",
        "2017-02-02,1,1,0,10.0,0.0,0.0",
        "2017-02-03,1,99,1,10.0,0.0,0.0",
    ]
    r = _load(_amex(*lines, good=300), tmp_path / "all").report
    assert (r.quantity_outliers_dropped, r.far_dates_dropped, r.zero_quantity_dropped, r.unknown_item_lines_dropped) == (1, 1, 1, 1)
    assert r.kept_lines == 300
    r.check_balance()


def test_placeholder_past_dates_are_dropped_and_counted(tmp_path: Path) -> None:
    data = _load(_amex("1970-01-01,1,1,1,10.0,0.0,0.0", "1970-01-01T00:00:00Z,2,2,1,10.0,0.0,0.0", good=200), tmp_path / "epoch")
    assert data.report.far_dates_dropped == 2
    assert data.transactions.get_column("timestamp").min().year == 2017


def test_data_without_any_offer_still_summarises(tmp_path: Path) -> None:
    _canonical(lambda f: f.with_columns(retail_discount=pl.lit(0.0)))(tmp_path / "c")
    result = runner.invoke(app, ["data", "summary", "--data", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "mean offer % on discounted lines" in result.output
