from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from offerwise.cli import app

runner = CliRunner()


def test_data_summary_on_amexpert_folder(amexpert_dir: Path) -> None:
    result = runner.invoke(app, ["data", "summary", "--data", str(amexpert_dir)])
    assert result.exit_code == 0, result.output
    assert "Load report" in result.output and "lines kept" in result.output


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "summary", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "no such folder" in result.output
    assert "Traceback" not in result.output


def test_simulate_then_summary(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--customers", "50", "--items", "20", "--weeks", "20"])
    assert result.exit_code == 0, result.output
    assert (out / "ground_truth.parquet").is_file() and (out / "customer_transaction_data.csv").is_file()
    result = runner.invoke(app, ["data", "summary", "--data", str(out)])
    assert result.exit_code == 0, result.output
