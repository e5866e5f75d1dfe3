"""What real exports get wrong as a whole (data/sanity.py and the readers that call it): each case is
refused with one line naming file, column and rows, or repaired, counted and said."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.data.load import load_data
from offerwise.data.plans import read_offer_table
from offerwise.data.sanity import check_offer_scale, latest_plausible_date
from offerwise.data.summary import load_lines
from offerwise.errors import InputError
from tests.conftest import ITEMS_CSV, TX_HEADER, write_amexpert

runner = CliRunner()
START = dt.date(2017, 1, 2)


def _lines(customers: int = 40, per_customer: int = 3, *, customer_offset: int = 0) -> list[str]:
    """AmExpert lines: every consumer buys the 3 items at list price 10, every fourth line at 20 % off."""
    return [
        f"{START + dt.timedelta(days=(c * 7 + k) % 150)},{c + 1 + customer_offset},{k % 3 + 1},1,"
        f"{8.0 if (c + k) % 4 == 0 else 10.0},{-2.0 if (c + k) % 4 == 0 else 0.0},0.0"
        for c in range(customers)
        for k in range(per_customer)
    ]


def _folder(tmp_path: Path, lines: list[str], items: str = ITEMS_CSV) -> Path:
    return write_amexpert(tmp_path / "data", TX_HEADER + "\n".join(lines) + "\n", items)


# ---- case 3: a catch-all loyalty id


def test_catch_all_consumer_is_dropped_counted_and_named(tmp_path: Path) -> None:
    walk_in = [f"{START + dt.timedelta(days=d % 150)},999,{d % 3 + 1},{d // 150 + 1},10.0,0.0,0.0" for d in range(400)]
    data = load_data(_folder(tmp_path, _lines() + walk_in))
    assert 999 not in data.transactions.get_column("customer_id").to_list()
    assert 999 not in data.customers.get_column("customer_id").to_list()
    assert data.report.catch_all_lines_dropped == 400 and data.report.kept_lines == 120
    data.report.check_balance()
    assert any("999 (400 lines)" in note and "max_lines_per_consumer_ratio" in note for note in data.report.notes)
    kept = load_data(tmp_path / "data", max_lines_per_consumer_ratio=0)  # 0: off
    assert kept.report.catch_all_lines_dropped == 0 and kept.transactions.height == 520


def test_ordinary_heavy_buyers_are_kept(tmp_path: Path) -> None:
    heavy = _lines(5, 30, customer_offset=100)  # 10x the median consumer: a loyal household, not a shared card
    data = load_data(_folder(tmp_path, _lines() + heavy))
    assert data.report.catch_all_lines_dropped == 0 and data.transactions.height == 270


# ---- case 5: category names with spaces or another case


def test_category_names_are_trimmed_and_the_trim_counted(tmp_path: Path) -> None:
    items = "item_id,brand,brand_type,category\n1,10,Established,Grocery \n2,11,Local,Grocery\n3,12,Established, Meat\n"
    data = load_data(_folder(tmp_path, _lines(), items))
    assert sorted(data.items.get_column("category").unique()) == ["Grocery", "Meat"]
    assert any("2 category name(s) of item_data.csv trimmed" in note for note in data.report.notes)


def test_category_names_differing_in_case_or_spacing_are_refused(tmp_path: Path) -> None:
    items = ITEMS_CSV.replace("Local,Grocery", "Local,GROCERY")
    with pytest.raises(InputError, match=r"item_data.csv, column 'category': names that differ only in case or spacing: ") as caught:
        load_data(_folder(tmp_path, _lines(), items))
    assert "'Grocery' on 1 item" in str(caught.value) and "'GROCERY' on 1 item" in str(caught.value)


# ---- case 7: two-digit years and implausible dates


def test_two_digit_years_are_refused_naming_the_rows(tmp_path: Path) -> None:
    lines = [line[2:] for line in _lines()]  # 17-01-02: %Y alone would read the year 17
    result = runner.invoke(app, ["data", "summary", "--data", str(_folder(tmp_path, lines))])
    assert result.exit_code == 2, result.output
    assert "column 'date'" in result.output and "the year in 4 digits" in result.output and "'17-01-02'" in result.output


def test_a_file_dated_in_no_plausible_year_is_refused(tmp_path: Path) -> None:
    lines = [line.replace("2017-", "1917-", 1) for line in _lines()]
    with pytest.raises(InputError, match=r"column 'date': dates before 1990 or after next year .*Examples \(120 rows"):
        load_data(_folder(tmp_path, lines))
    assert latest_plausible_date(dt.date(2025, 6, 1)) == dt.datetime(2027, 1, 1)


def test_plan_dates_with_two_digit_years_are_refused(tmp_path: Path) -> None:
    (tmp_path / "planned_offers.csv").write_text("item_id,start_date,end_date,offer_pct\n1,19-02-25,19-03-10,10\n")
    with pytest.raises(InputError, match=r"column 'start_date': expected an ISO date.*'19-02-25'"):
        read_offer_table(tmp_path / "planned_offers.csv", items=pl.DataFrame({"item_id": [1]}), dated=False)


# ---- case 11: returns, whatever the sign of their amounts


@pytest.mark.parametrize(
    "returns",
    [
        ["2017-03-05,1,1,-2,-16.0,4.0,0.0", "2017-03-06,2,2,-1,-10.0,0.0,0.0"],  # amounts negated too (discounts then positive)
        ["2017-03-05,1,1,-2,16.0,-4.0,0.0"],  # amounts as on the sale
    ],
)
def test_returns_are_dropped_and_counted_whatever_the_sign_of_their_amounts(tmp_path: Path, returns: list[str]) -> None:
    data = load_data(_folder(tmp_path, _lines() + returns))
    assert data.report.returns_dropped == len(returns) and data.report.kept_lines == 120


def test_canonical_returns_with_negative_amounts_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    header = "customer_id,item_id,timestamp,quantity,paid,retail_discount,coupon_discount\n"
    rows = [f"{i % 4 + 1},{i % 2 + 1},2020-01-{i % 28 + 1:02d},1,9.0,1.0,0.0" for i in range(40)]
    (folder / "transactions.csv").write_text(header + "\n".join([*rows, "1,1,2020-01-05,-1,-9.0,-1.0,0.0"]) + "\n")
    (folder / "items.csv").write_text("item_id,category,brand,brand_type\n1,A,x,N\n2,B,y,P\n")
    assert load_data(folder).report.returns_dropped == 1


def test_a_negative_price_on_a_sale_names_the_files_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"column 'selling_price': negative amounts on lines with a positive quantity"):
        load_data(_folder(tmp_path, [*_lines(), "2017-03-05,1,1,2,-16.0,0.0,0.0"]))


# ---- case 8: what cleaning dropped is said by every run


def test_load_lines_say_what_was_dropped_and_which_items_vanished(tmp_path: Path) -> None:
    fields = [line.split(",") for line in _lines()]
    zero = [",".join(f[:3] + ["0" if f[2] == "3" else f[3]] + f[4:]) for f in fields]  # item 3: every line has quantity 0
    data = load_data(_folder(tmp_path, zero))
    said = load_lines(data.report)
    assert said[0].startswith("[yellow]load: 120 lines read, 80 kept; dropped: 40 zero-quantity lines (33.3%)"), said
    assert any("1 item(s) lost every line to cleaning and get no offers: 3" in line for line in said), said
    quiet = load_lines(load_data(_folder(tmp_path / "ok", _lines())).report)
    assert quiet == ["load: 120 lines read, 120 kept, nothing dropped"]


# ---- cases 1 and 2: planned offers written as fractions, or a plan with no rows

PLAN_ITEMS = pl.DataFrame({"item_id": [1, 2, 3]})


def _history(offer_pct: float) -> pl.DataFrame:
    return pl.DataFrame({"retail_discount": [2.0, 3.0, 0.0], "offer_pct": [offer_pct, offer_pct, 0.0]})


def test_plan_of_fractions_is_refused_when_the_history_is_in_percent(tmp_path: Path) -> None:
    path = tmp_path / "planned_offers.csv"
    path.write_text("item_id,offer_pct\n1,0.15\n2,0.5\n3,0\n")
    with pytest.raises(
        InputError,
        match=r"planned_offers.csv, column 'offer_pct': every offer is between 0 and 1 .*median offer of 30.0 %.*0.5 reads as 0.5 %, not 50 %",
    ):
        read_offer_table(path, items=PLAN_ITEMS, dated=False, transactions=_history(30.0))
    plan = read_offer_table(path, items=PLAN_ITEMS, dated=False, transactions=_history(0.8))  # the history's offers are small too
    assert plan.height == 3


def test_plans_in_percent_or_without_offers_pass_the_scale_check() -> None:
    check_offer_scale(pl.DataFrame({"offer_pct": [15.0, 0.5]}), _history(30.0), file="p.csv")
    check_offer_scale(pl.DataFrame({"offer_pct": [0.0, 0.0]}), _history(30.0), file="p.csv")  # nothing on offer


@pytest.mark.parametrize("dated, name", [(False, "planned_offers.csv"), (True, "offer_history.csv")])
def test_offer_file_with_a_header_only_is_refused(tmp_path: Path, dated: bool, name: str) -> None:
    (tmp_path / name).write_text("item_id,start_date,end_date,offer_pct\n\n")
    with pytest.raises(InputError, match=rf"{name}: no (planned offers|offer history): the file has a header and nothing else"):
        read_offer_table(tmp_path / name, items=PLAN_ITEMS, dated=dated)
