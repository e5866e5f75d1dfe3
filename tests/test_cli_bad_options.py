"""Bad options and paths on the command line: one line, exit 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from offerwise.cli import app

runner = CliRunner()


def _cases(tmp: Path, sim: Path) -> dict[str, tuple[list[str], str]]:
    a_file = tmp / "a-file"
    a_file.write_text("not a folder")
    return {
        "simulate with no consumers": (["simulate", "--out", str(tmp / "s"), "--customers", "0"], "simulation.customers"),
        "simulate into a file": (["simulate", "--out", str(a_file / "x"), "--customers", "20"], "a-file"),
        "prepare with zero folds": (["prepare", "--data", str(sim), "--out", str(tmp / "p"), "--folds", "0"], "panel.folds"),
        "train for zero epochs": (["train", "--panel", str(tmp / "nowhere"), "--out", str(tmp / "m"), "--epochs", "0"], "model.epochs"),
        "run into a file": (["run", "--data", str(sim), "--out", str(a_file)], "is a file"),
        "run with a missing plan": (
            ["run", "--data", str(sim), "--out", str(tmp / "r"), "--planned-offers", str(tmp / "none.csv")],
            "none.csv",
        ),
        "recommend from a missing folder": (["recommend", "--data", str(tmp / "missing"), "--out", str(tmp / "r2")], "missing"),
        "elasticity before training": (
            ["elasticity", "--panel", str(tmp / "nowhere"), "--models", str(tmp / "m"), "--out", str(tmp / "e")],
            "nowhere",
        ),
    }


@pytest.mark.parametrize("case", ["simulate with no consumers", "simulate into a file", "prepare with zero folds", "train for zero epochs",
                                  "run into a file", "run with a missing plan", "recommend from a missing folder", "elasticity before training"])  # fmt: skip
def test_bad_option_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, small_sim_dir: Path, case: str) -> None:
    command, named = _cases(tmp_path, small_sim_dir)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and named in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output folder, no half-written file


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("offerwise ")
