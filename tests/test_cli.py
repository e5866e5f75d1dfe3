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


def test_prepare_train_evaluate_on_simulated_data(small_sim_dir: Path, tmp_path: Path) -> None:
    import polars as pl

    prepared, models, evaluation = tmp_path / "prepared", tmp_path / "models", tmp_path / "eval"
    result = runner.invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(prepared)])
    assert result.exit_code == 0, result.output
    panel = pl.read_parquet(prepared / "panel.parquet")
    assert {"customer_id", "item_id", "category", "period", "target", "offer_pct"} <= set(panel.columns)
    result = runner.invoke(app, ["train", "--panel", str(prepared), "--out", str(models), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "--panel", str(prepared), "--models", str(models), "--out", str(evaluation)])
    assert result.exit_code == 0, result.output
    predictions = pl.read_parquet(evaluation / "predictions.parquet")
    assert predictions.columns[:8] == ["customer_id", "item_id", "category", "period", "split", "model", "probability", "label"]
    assert set(predictions.get_column("model")) == {"tcn", "lightgbm", "recency_frequency", "stack"}
    metrics = pl.read_csv(evaluation / "metrics.csv")
    assert {"category", "model", "split", "rows", "positives", "bce", "roc_auc", "pr_auc"} <= set(metrics.columns)
    assert metrics.height == 2 * 4 * 3  # 2 categories x 4 models x (backtest validation, test; forward validation)

    result = runner.invoke(app, ["thresholds", "--evaluation", str(evaluation), "--panel", str(prepared)])
    assert result.exit_code == 0, result.output
    thresholds = pl.read_parquet(evaluation / "thresholds.parquet")
    assert {"customer_id", "category", "threshold", "rule"} <= set(thresholds.columns)
    assert set(thresholds.get_column("rule")) <= {"consumer", "category_fallback"}
    f1 = pl.read_csv(evaluation / "f1.csv")
    assert f1.filter(pl.col("rule") == "oracle_test").get_column("honest").to_list() == [False] * 8
    assert {"precision", "recall", "f1"} <= set(pl.read_csv(evaluation / "metrics.csv").columns)

    result = runner.invoke(app, ["elasticity", "--panel", str(prepared), "--models", str(models), "--out", str(evaluation)])
    assert result.exit_code == 0, result.output
    fits = pl.read_csv(evaluation / "elasticity.csv")
    assert {"category", "source", "a", "b", "r2", "n"} <= set(fits.columns)
    assert set(fits.get_column("source")) == {"model_at_historical_offers", "counterfactual"}
    pairs = pl.read_parquet(evaluation / "pair_elasticity.parquet")
    test_pairs = predictions.filter((pl.col("split") == "test") & (pl.col("model") == "tcn") & pl.col("label").is_not_null())
    assert pairs.height == test_pairs.height  # the backtest's decided pairs
    assert pairs.get_column("elasticity_pair").is_finite().all()
    cross, own = pl.read_csv(evaluation / "cross_response.csv"), pl.read_csv(evaluation / "response.csv")
    identified = dict(own.select("category", "identified").rows())  # the pulls are the category's own where its own slope is identified
    assert all(row["others_identified"] == identified.get(row["category"], True) for row in cross.iter_rows(named=True))


def test_prepare_on_amexpert_folder(amexpert_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[panel]\nmin_purchases = 1\nmin_pairs_per_category = 1\ntrain_periods = 1\n")
    (amexpert_dir / "customer_transaction_data.csv").write_text(
        (amexpert_dir / "customer_transaction_data.csv").read_text() + "2012-02-12,2,3,1,100.0,0.0,0.0\n"
    )
    result = runner.invoke(app, ["prepare", "--data", str(amexpert_dir), "--out", str(tmp_path / "p"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "features.json").is_file()


def test_train_without_panel_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--panel", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "run `offerwise prepare" in result.output


def test_tables_fold_no_number_on_a_narrow_terminal() -> None:
    import polars as pl
    from rich.console import Console

    from offerwise.render import PLAN_HEADERS
    from offerwise.render import frame_table as _table

    frame = pl.DataFrame(
        {
            "category": ["GROCERY", "TRAVEL & LEISURE"],
            "pairs": [124_871, 762],
            "planned_offer_mean": [12.6, 19.1],
            "recommended_offer_mean": [24.0, 24.8],
            "expected_revenue_before": [1_234_567, 2_345],
            "expected_revenue_after": [1_345_678, 2_456],
            "retention_before": [0.0901, 0.058],
            "retention_after": [0.114, 0.069],
        }
    )
    console = Console(width=80, record=True)
    console.print(_table(frame, "plan", PLAN_HEADERS, {"planned_offer_mean": 1, "recommended_offer_mean": 1}))
    lines = console.export_text().splitlines()
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in lines[1:]), "the table was cropped at 80 characters"
    for cell in ("124,871", "1,234,567", "1,345,678", "12.6", "0.090", "0.114", "LEISURE"):
        assert any(cell in line for line in lines), cell  # whole, on one line (a name may wrap at a space)


def test_train_defaults_to_one_shared_model_reused_for_the_forward_plan(small_sim_dir: Path, tmp_path: Path) -> None:
    """model.per_category = false and forward_models = "reuse" are the defaults; --per-category and
    --refit-models (added beside --shared and --reuse-models) ask for one model per category and fold."""
    import json

    prepared = tmp_path / "prepared"
    assert runner.invoke(app, ["prepare", "--data", str(small_sim_dir), "--out", str(prepared)]).exit_code == 0
    trained = {}
    for name, flags in (
        ("default", []),
        ("per-category", ["--per-category", "--refit-models"]),
        ("shared", ["--shared", "--reuse-models"]),
    ):
        result = runner.invoke(app, ["train", "--panel", str(prepared), "--out", str(tmp_path / name), "--epochs", "1", *flags])
        assert result.exit_code == 0, result.output
        trained[name] = json.loads((tmp_path / name / "training.json").read_text())["models"]
    categories = {e["category"] for e in trained["per-category"]}
    assert len(categories) == 2 and all("reused_from_fold" not in e for e in trained["per-category"])
    assert len(trained["per-category"]) == 2 * len({e["fold"] for e in trained["per-category"]})
    for name in ("default", "shared"):
        assert len({e["dir"] for e in trained[name]}) == 1 and sum("reused_from_fold" in e for e in trained[name]) == 1


def test_the_command_line_starts_without_the_pipeline() -> None:
    """`offerwise --help` and `--version` answer in well under a second: the CLI module imports no
    pipeline, PyTorch or LightGBM until a command needs them (they took 5 s to import on 2 cores)."""
    import subprocess
    import sys

    code = "import sys, offerwise.cli; print(sorted(m for m in ('torch', 'lightgbm', 'offerwise.pipeline') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
