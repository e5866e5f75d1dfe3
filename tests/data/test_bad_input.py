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
from offerwise.data.plans import offers_for_period, read_offer_table
from offerwise.errors import InputError
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


def _with(**columns: pl.Expr) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda frame: frame.with_columns(**columns)


DEMO_HEADER = "customer_id,age_range,marital_status,rented,family_size,no_of_children,income_bracket\n"


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
    # one customer listed twice with different values: its demographics cannot be known
    "demographics-duplicate-id": Case(
        _amex(
            extra={"customer_demographics.csv": DEMO_HEADER + "1,46-55,Married,0,2,1,4\n2,26-35,Single,1,1,0,3\n1,46-55,Married,0,2,1,5\n"}
        ),
        "customer_demographics.csv",
        "customer_id",
        "listed more than once with different values (which line is right cannot be known). Examples (2 rows in all)",
    ),
    "customers-duplicate-id": Case(
        lambda f: (_canonical()(f), (f / "customers.csv").write_text("customer_id,age\n1,30\n2,40\n1,31\n")),
        "customers.csv",
        "customer_id",
        "listed more than once with different values",
    ),
    # Parquet column types that cannot be the field (Categorical ids and text are read as their text)
    "parquet-quantity-list": Case(
        _canonical(_with(quantity=pl.concat_list("quantity")), tx_format="parquet"), PQ_TX, "quantity", "type List"
    ),
    "parquet-id-struct": Case(
        _canonical(_with(customer_id=pl.struct("customer_id")), tx_format="parquet"), PQ_TX, "customer_id", "type Struct"
    ),
    "parquet-quantity-binary": Case(
        _canonical(_with(quantity=pl.col("quantity").cast(pl.String).cast(pl.Binary)), tx_format="parquet"), PQ_TX, "quantity", "Binary"
    ),
    "parquet-quantity-boolean": Case(_canonical(_with(quantity=pl.col("quantity") > 0), tx_format="parquet"), PQ_TX, "quantity", "Boolean"),
    "parquet-quantity-duration": Case(
        _canonical(_with(quantity=pl.duration(seconds=1)), tx_format="parquet"), PQ_TX, "quantity", "type Duration"
    ),
    "parquet-items-category-list": Case(
        _canonical(items=CANONICAL_ITEMS.with_columns(pl.concat_list("category")), items_format="parquet"),
        "items.parquet",
        "category",
        "type List",
    ),
    # malformed CSV: one line naming the line, never polars' advice
    "csv-too-many-fields": Case(_amex("2017-01-02,1,1,1,10.0,0.0,0.0,9,9"), AMEX_TX, None, "line 122 has 9 fields, the header has 7"),
    "csv-unclosed-quote": Case(_amex('2017-01-02,1,"1,1,10.0,0.0,0.0'), AMEX_TX, None, "line 122: unexpected end of data"),
    "csv-header-repeats-column": Case(
        lambda f: write_amexpert(f, TX_HEADER.rstrip() + ",quantity\n" + "".join(f"{line},999\n" for line in _good_lines()), ITEMS_CSV),
        AMEX_TX,
        "quantity",
        "the header has this column more than once",
    ),
    "csv-items-header-repeats-column": Case(
        _amex(items="item_id,brand,brand_type,category,category\n1,10,Local,Meat,Fish\n"), "item_data.csv", "category", "more than once"
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


def test_exact_duplicate_customer_lines_are_dropped_and_noted(tmp_path: Path) -> None:
    demo = DEMO_HEADER + "1,46-55,Married,0,2,1,4\n2,26-35,Single,1,1,0,3\n1,46-55,Married,0,2,1,4\n"
    data = _load(_amex(extra={"customer_demographics.csv": demo}), tmp_path / "a")
    assert data.customers.get_column("customer_id").is_unique().all() and data.customers.height == 5
    assert data.customers.filter(pl.col("customer_id") == 2).get_column("age_range").to_list() == ["26-35"]
    assert "1 exact duplicate line of customer_demographics.csv dropped" in data.report.notes
    _canonical()(tmp_path / "c")
    pl.DataFrame({"customer_id": [3, 1, 3], "age": [30, 40, 30]}).write_parquet(tmp_path / "c" / "customers.parquet")
    assert load_data(tmp_path / "c").customers.sort("customer_id").get_column("age").to_list() == [40, None, 30, None]


def test_demographics_stay_on_their_own_consumer_row() -> None:
    """The panel attaches attributes by key, one row per pair: a repeated key stops instead of shifting rows."""
    from offerwise.features.assemble import _attach

    pairs = pl.DataFrame({"customer_id": [3, 1, 3, 2]})
    got = _attach(pairs, pl.DataFrame({"customer_id": [1, 2, 3], "age": ["a", "b", "c"]}), "customer_id", "customers")
    assert got.get_column("age").to_list() == ["c", "a", "c", "b"]
    with pytest.raises(ValueError, match=r"lists customer_id \[1\] more than once"):
        _attach(pairs, pl.DataFrame({"customer_id": [1, 1, 3], "age": ["a", "a", "c"]}), "customer_id", "customers")


def test_categorical_parquet_ids_and_text_are_read_as_text(tmp_path: Path) -> None:
    as_category = {c: pl.col(c).cast(pl.String).cast(pl.Categorical) for c in ("customer_id", "item_id")}
    items = CANONICAL_ITEMS.with_columns(
        pl.col("item_id").cast(pl.String).cast(pl.Categorical),
        pl.col("category").cast(pl.Enum(["A", "B"])),
        level=pl.lit("x").cast(pl.Categorical),
    )
    _canonical(_with(**as_category), tx_format="parquet", items=items, items_format="parquet")(tmp_path / "c")
    pl.DataFrame({"customer_id": ["1", "2"], "age": ["30", "40"]}).cast(pl.Categorical).write_parquet(tmp_path / "c" / "customers.parquet")
    data = load_data(tmp_path / "c")
    plain = _load(_canonical(), tmp_path / "plain")
    assert data.transactions.equals(plain.transactions)
    assert data.items.schema["category"] == data.items.schema["level"] == pl.String and data.items.get_column("item_id").to_list() == [1, 2]
    assert data.customers.schema["age"] == pl.String


# ---- the retailer's offer records (data/plans.py)

PLAN_ITEMS = pl.DataFrame({"item_id": [1, 2, 3]})


def _offers(tmp_path: Path, text: str, *, dated: bool = False, name: str = "planned_offers.csv") -> pl.DataFrame:
    (tmp_path / name).write_text(text)
    return read_offer_table(tmp_path / name, items=PLAN_ITEMS, dated=dated)


def _refused(tmp_path: Path, text: str, *needles: str, dated: bool = False, name: str = "planned_offers.csv") -> str:
    with pytest.raises(InputError) as caught:
        _offers(tmp_path, text, dated=dated, name=name)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path / name)), message
    for needle in needles:
        assert needle in message, message
    return message


def test_planned_offer_needs_both_dates_or_neither(tmp_path: Path) -> None:
    header = "item_id,start_date,end_date,offer_pct\n"
    _refused(tmp_path, header + "1,2018-07-30,2018-08-12,5\n2,2018-07-30,,10\n", "column 'end_date'", "both be given", "'row': 3")
    _refused(tmp_path, header + "1,,2018-08-12,5\n", "column 'start_date'", "both be given", "'row': 2")
    _refused(tmp_path, "item_id,start_date,offer_pct\n1,2018-07-30,5\n", "column 'end_date'", "missing")
    _refused(tmp_path, header + "1,2018-07-30,,5\n", "column 'end_date'", "both be given", dated=True, name="offer_history.csv")
    # An undated row of a dated plan is the whole decided period.
    plan = _offers(tmp_path, header + "1,2018-07-30,2018-08-12,5\n2,,,10\n")
    got = offers_for_period(plan, dt.date(2018, 7, 30), dt.date(2018, 8, 12), strict=True)
    assert sorted(got.get_column("offer_pct").to_list()) == [5.0, 10.0]


def test_offer_dates_must_be_iso(tmp_path: Path) -> None:
    header = "item_id,start_date,end_date,offer_pct\n"
    history = header + "1,2018-01-01,2018-01-14,5\n1,15/01/2018,28/01/2018,5\n2,2018-01-01,2018-01-14,0\n"
    _refused(tmp_path, history, "column 'start_date'", "ISO date", "(1 row in all): [{'row': 3, 'start_date': '15/01/2018'}]", dated=True)
    us = header + "1,01/02/2018,01/14/2018,5\n2,01/02/2018,01/14/2018,5\n"  # never guessed: day and month could swap
    _refused(tmp_path, us, "column 'start_date'", "(2 rows in all)", dated=True, name="offer_history.csv")
    midnight = _offers(tmp_path, header + "1,2018-01-01 00:00:00,2018-01-14T00:00:00,5\n", dated=True)
    assert midnight.row(0)[3:] == (dt.date(2018, 1, 1), dt.date(2018, 1, 14))
    _refused(tmp_path, header + "1,2018-01-01,2018-01-14 23:59:00,5\n", "column 'end_date'", "'row': 2", dated=True)


def test_parquet_offer_dates_may_be_dates_or_midnight_datetimes(tmp_path: Path) -> None:
    day = [dt.date(2018, 1, 1), dt.date(2018, 1, 15)]
    frame = pl.DataFrame(
        {"item_id": [1, 1], "start_date": day, "end_date": [dt.date(2018, 1, 14), dt.date(2018, 1, 28)], "offer_pct": [5.0, 0.0]}
    )
    for name, start in (("date", pl.col("start_date")), ("datetime", pl.col("start_date").cast(pl.Datetime("ms")))):
        frame.with_columns(start).write_parquet(tmp_path / f"{name}.parquet")
        got = read_offer_table(tmp_path / f"{name}.parquet", items=PLAN_ITEMS, dated=True)
        assert got.get_column("start_date").to_list() == day, name
    frame.with_columns(pl.col("start_date").cast(pl.Datetime) + pl.duration(hours=9)).write_parquet(tmp_path / "offer_history.parquet")
    with pytest.raises(InputError, match=r"column 'start_date': expected an ISO date .*'row': 2, 'start_date': '2018-01-01 09:00"):
        read_offer_table(tmp_path / "offer_history.parquet", items=PLAN_ITEMS, dated=True)
    frame.with_columns(pl.concat_list("offer_pct")).write_parquet(tmp_path / "offer_history.parquet")
    with pytest.raises(InputError, match=r"column 'offer_pct': the column has type List"):
        read_offer_table(tmp_path / "offer_history.parquet", items=PLAN_ITEMS, dated=True)


def test_malformed_offer_file_is_one_line(tmp_path: Path) -> None:
    _refused(tmp_path, "item_id,offer_pct\n1,5\n2,5,7\n", "line 3 has 3 fields, the header has 2")
    _refused(tmp_path, "item_id,offer_pct,offer_pct\n1,5,7\n", "column 'offer_pct'", "more than once")


def test_offer_history_keeps_a_randomised_design_s_mean_offer_and_refuses_a_bad_one(tmp_path: Path) -> None:
    head = "item_id,customer_id,start_date,end_date,offer_pct,arm,propensity,expected_offer_pct\n"
    got = _offers(
        tmp_path, head + "1,,2018-01-01,2018-01-14,10,,,\n1,7,2018-01-01,2018-01-14,30,explore,0.01,12.5\n", dated=True, name="h.csv"
    )
    assert got.get_column("expected_offer_pct").to_list() == [None, 12.5]
    assert "arm" not in got.columns  # bookkeeping columns are read past
    _refused(tmp_path, head + "1,7,2018-01-01,2018-01-14,30,explore,0.01,lots\n", "column 'expected_offer_pct'", dated=True, name="h.csv")
