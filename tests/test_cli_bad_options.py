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


def test_seed_below_zero_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "s"), "--customers", "20", "--seed", "-1"])
    assert result.exit_code == 2 and "'simulation.seed' option must be >= 0" in result.output, result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where no folder can be made")
@pytest.mark.parametrize("command", ["prepare", "run", "simulate"])
def test_out_that_cannot_be_created_is_one_line(small_sim_dir: Path, command: str) -> None:
    out = "/proc/offerwise-test-out/run"
    args = ["--customers", "20"] if command == "simulate" else ["--data", str(small_sim_dir)]
    result = runner.invoke(app, [command, "--out", out, *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and f"--out {out}: cannot create this folder" in result.output


CONFIG_CASES = {
    "max_customers 0": ("[panel]\nmax_customers = 0\n", "'panel.max_customers' option must be >= 1"),
    "top_categories -1": ("[panel]\ntop_categories = -1\n", "'panel.top_categories' option must be >= 1"),
    "item_level unknown": ('[panel]\nitem_level = "nope"\n', "The 'panel.item_level' option must be 'item_id' or an item column"),
    "start after the data": ("[panel]\nstart = 2030-01-07\n", "The 'panel.start' option (2030-01-07) is after the data's last day"),
    "end before start": ("[panel]\nstart = 2018-03-05\nend = 2018-02-01\n", "The 'panel.end' option (2018-02-01) is before panel.start"),
    "end before the data": ("[panel]\nend = 2017-02-01\n", "The 'panel.end' option (2017-02-01) is before the data's first day"),
    "start near the end": ("[panel]\nstart = 2019-02-11\n", "The 'panel.start' option leaves too little history"),
    "min_purchases beyond the data": ("[panel]\nmin_purchases = 1000\n", "The 'panel.min_purchases' option (1000) is more than the"),
    "min_purchases no pair reaches": ("[panel]\nmin_purchases = 25\n", "lower the 'panel.min_purchases' option (25)"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_value_wrong_for_the_data_names_file_and_key(tmp_path: Path, small_sim_dir: Path, case: str) -> None:
    toml, message = CONFIG_CASES[case]
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    out = tmp_path / "p"
    result = runner.invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(out), "--config", str(config)])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())  # rich wraps long lines
    assert f"error: {config}: " in line and message in line
    assert "Traceback" not in result.output and not out.exists()


def test_cuda_on_a_machine_without_it_is_one_line_and_writes_nothing(tmp_path: Path, small_sim_dir: Path, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = tmp_path / "cuda.toml"
    config.write_text('[model]\ndevice = "cuda"\n')
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--data", str(small_sim_dir), "--out", str(out), "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}: The 'model.device' option is 'cuda'" in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("folder", ["fresh", "empty"])
def test_prepare_shards_then_bad_plan_leaves_the_folder_as_it_was(tmp_path: Path, small_sim_dir: Path, folder: str) -> None:
    """The plan is checked against the decided period only once the shards are written: they are removed again."""
    plan = tmp_path / "plan.csv"
    plan.write_text("item_id,offer_pct,start_date,end_date\n10001,10,2001-01-01,2001-01-14\n")
    out = tmp_path / "p"
    if folder == "empty":
        out.mkdir()
    command = ["prepare", "--data", str(small_sim_dir), "--out", str(out), "--shards", "2", "--planned-offers", str(plan)]
    result = runner.invoke(app, command)
    assert result.exit_code == 2 and "plan.csv" in result.output, result.output
    assert (list(out.iterdir()) == []) if folder == "empty" else not out.exists()


@pytest.mark.parametrize("shards", ["1", "2"])
def test_run_into_an_empty_folder_with_a_bad_plan_leaves_it_empty(tmp_path: Path, small_sim_dir: Path, shards: str) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("item_id,offer_pct\n10001,250\n")
    out = tmp_path / "run"
    out.mkdir()
    result = runner.invoke(app, ["run", "--data", str(small_sim_dir), "--out", str(out), "--planned-offers", str(plan), "--shards", shards])
    assert result.exit_code == 2 and "offer_pct" in result.output, result.output
    assert list(out.iterdir()) == []


def test_bad_input_leaves_a_folder_with_earlier_results_alone(tmp_path: Path, small_sim_dir: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's file")
    plan = tmp_path / "plan.csv"
    plan.write_text("item_id,offer_pct\n10001,250\n")
    result = runner.invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(out), "--planned-offers", str(plan)])
    assert result.exit_code == 2
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]


@pytest.mark.parametrize("verb", ["train", "evaluate", "thresholds"])
def test_a_file_where_a_stage_folder_is_expected_is_named_as_such(tmp_path: Path, verb: str) -> None:
    given = tmp_path / "panel.parquet"
    given.write_bytes(b"PAR1")
    options = {
        "train": ["--panel", str(given)],
        "evaluate": ["--panel", str(tmp_path), "--models", str(given)],
        "thresholds": ["--evaluation", str(given)],
    }[verb]
    result = CliRunner().invoke(app, [verb, *options, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and f"{given}: is a file; give the folder" in result.output, result.output
