from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise.cli import app
from offerwise.data.offer_rules import read_offer_rules
from offerwise.errors import InputError

CATEGORIES = ["Grocery", "Meat"]


def _rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "offer_rules.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("category,levels\nGrocery,10;20;15\n", {"Grocery": [0.0, 10.0, 15.0, 20.0]}),
        ("category,levels,allow_no_offer\nGrocery,10 20,false\nMeat,5|0,\n", {"Grocery": [10.0, 20.0], "Meat": [0.0, 5.0]}),
        ("category,min,max,step\nGrocery,10,30,10\nMeat,20,25,\n", {"Grocery": [0.0, 10.0, 20.0, 30.0], "Meat": [0.0, 20.0, 25.0]}),
    ],
)
def test_rules_are_read_as_levels(tmp_path: Path, text: str, expected: dict) -> None:
    rules = read_offer_rules(_rules(tmp_path, text), categories=CATEGORIES)
    assert dict(zip(rules["category"], rules["levels"].to_list(), strict=True)) == expected


def test_a_rules_file_may_cap_the_offers_per_consumer_category(tmp_path: Path) -> None:
    rules = read_offer_rules(_rules(tmp_path, "category,levels,max_offers_per_category\nGrocery,10,2\nMeat,20,\n"), categories=CATEGORIES)
    assert dict(rules.select("category", "max_offers").iter_rows()) == {"Grocery": 2, "Meat": None}


def test_a_parquet_rules_file_may_hold_lists(tmp_path: Path) -> None:
    path = tmp_path / "offer_rules.parquet"
    pl.DataFrame({"category": ["Meat"], "levels": [[30.0, 10.0]]}).write_parquet(path)
    assert read_offer_rules(path, categories=CATEGORIES)["levels"].to_list() == [[0.0, 10.0, 30.0]]


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("category,levels\nFuel,10\n", "category", "not in the item table"),
        ("category,levels\nGrocery,10\nGrocery,20\n", "category", "more than once"),
        ("category,levels\nGrocery,-5;10\n", "levels", "from 0 to 100"),
        ("category,levels\nGrocery,140\n", "levels", "from 0 to 100"),
        ("category,levels\nGrocery,ten\n", "levels", "from 0 to 100"),
        ("category,min,max\nGrocery,30,10\n", "max", "below min"),
        ("category,min,max\nGrocery,10,120\n", "max", "between 0 and 100"),
        ("category,levels,min,max\nGrocery,10,10,20\n", "levels", "not both or neither"),
        ("category,levels,allow_no_offer\nGrocery,10,maybe\n", "allow_no_offer", "true or false"),
        ("category,levels,allow_no_offer\nGrocery,0;10,false\n", "levels", "allow_no_offer is false"),
        ("category,offers\nGrocery,10\n", "levels", "missing"),
        ("name,levels\nGrocery,10\n", "category", "missing"),
        ("category,levels,max_offers_per_category\nGrocery,10,0\n", "max_offers_per_category", "from 1 to 4"),
        ("category,levels,max_offers_per_category\nGrocery,10,two\n", "max_offers_per_category", "whole number"),
    ],
)
def test_bad_rules_name_file_column_and_rows(tmp_path: Path, text: str, column: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        read_offer_rules(_rules(tmp_path, text), categories=CATEGORIES)
    assert "offer_rules.csv" in str(info.value) and f"'{column}'" in str(info.value)


def test_prepare_with_bad_rules_exits_2_with_one_line_and_writes_nothing(small_sim_dir: Path, tmp_path: Path) -> None:
    rules = _rules(tmp_path, "category,levels\nNo such category,10\n")
    out = tmp_path / "prepared"
    result = CliRunner().invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(out), "--offer-rules", str(rules)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "offer_rules.csv" in result.output and "'category'" in result.output
    assert not out.exists()


def test_prepare_keeps_the_validated_rules_for_optimize(small_sim_dir: Path, tmp_path: Path) -> None:
    category = pl.read_csv(small_sim_dir / "item_data.csv").get_column("category").first()
    rules = _rules(tmp_path, f"category,levels\n{category},10;20\n")
    out = tmp_path / "prepared"
    result = CliRunner().invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(out), "--offer-rules", str(rules)])
    assert result.exit_code == 0, result.output
    kept = pl.read_parquet(out / "offer_rules.parquet")
    assert kept["category"].to_list() == [category] and kept["levels"].to_list() == [[0.0, 10.0, 20.0]]
    again = CliRunner().invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(out)])
    assert again.exit_code == 0 and not (out / "offer_rules.parquet").exists()  # an earlier prepare's rules are not this one's
