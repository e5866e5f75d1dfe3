"""End to end: `offerwise run --data simulated --quick` and its artifacts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offerwise import pipeline
from offerwise.cli import app
from offerwise.errors import InputError
from offerwise.pipeline.api import _compare_variants
from offerwise.report.build import FIGURES

runner = CliRunner()

EXPECTED = {
    "prepared/panel.parquet": ["customer_id", "item_id", "category", "period", "period_start", "target", "relevant_from_fold", "offer_pct"],
    "evaluation/predictions.parquet": ["customer_id", "item_id", "category", "period", "split", "model", "probability", "label"],
    "evaluation/metrics.csv": ["category", "model", "split", "rows", "positives", "bce", "roc_auc", "pr_auc", "precision", "recall", "f1"],
    "evaluation/thresholds.parquet": ["customer_id", "category", "threshold", "rule"],
    "evaluation/elasticity.csv": ["category", "source", "a", "b", "r2", "n"],
    "optimize/offers.parquet": ["customer_id", "item_id", "category", "price", "reference_offer_pct", "probability", "threshold", "elasticity",
                                "recommended_offer_pct", "eta", "predicted_purchase", "expected_revenue"],
    "optimize/offers.csv": ["customer_id", "item_id", "category", "recommended_offer_pct"],
    "optimize/optimization_summary.csv": ["category", "status", "retention_before", "retention_after", "gap", "solver", "seconds"],
    "report/policy_score.csv": ["category", "policy", "true_expected_revenue", "true_retention", "score"],
    "recommendations/offers.parquet": ["customer_id", "item_id", "category", "period_start", "period_end", "price", "reference_offer_pct",
                                       "recommended_offer_pct", "p_reference", "p_recommended", "expected_revenue_reference",
                                       "expected_revenue_recommended", "expected_uplift", "binding", "run_id", "arm", "propensity",
                                       "plan_offer_pct", "p_plan", "expected_revenue_plan"],
    "recommendations/offers.csv": ["customer_id", "item_id", "period_start", "period_end", "recommended_offer_pct", "binding", "arm",
                                   "propensity"],
    "recommendations/summary.csv": ["category", "pairs", "planned_offer_mean", "recommended_offer_mean", "expected_revenue_before",
                                    "expected_revenue_after", "retention_before", "retention_after", "retention_multiplier",
                                    "holdout_pairs", "explore_pairs", "expected_revenue_as_run", "expected_revenue_given_up"],
    "report/table1.csv": ["category", "model", "sample_size", "bce", "precision", "recall", "f1", "avg_elasticity", "weighted_offer_pct"],
}  # fmt: skip


@pytest.mark.slow
def test_run_simulated_quick_writes_every_artifact_and_resumes(quick_run: Path) -> None:
    out = quick_run
    for name, columns in EXPECTED.items():
        path = out / name
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
        assert set(columns) <= set(frame.columns), (name, frame.columns)
        assert frame.height > 0, name
    predictions = pl.read_parquet(out / "evaluation/predictions.parquet")
    offers = pl.read_parquet(out / "optimize/offers.parquet")
    test_tcn = predictions.filter((pl.col("split") == "test") & (pl.col("model") == "tcn") & pl.col("label").is_not_null())
    assert offers.height == test_tcn.height  # one backtest offer per scored pair
    assert predictions.get_column("category").n_unique() == 2  # --quick: the two largest categories
    policy = pl.read_csv(out / "report/policy_score.csv")
    assert set(policy.get_column("policy")) == {"status quo", "ours", "rules oracle", "unconstrained oracle"}
    assert set(policy.get_column("decision")) == {"backtest", "forward"}
    plan = pl.read_parquet(out / "recommendations/offers.parquet")
    future = pl.read_parquet(out / "prepared/panel.parquet").filter(pl.col("target").is_null())
    assert plan.height == future.select("customer_id", "item_id").unique().height  # every pair relevant at the cutoff
    last_in_data = pl.read_parquet(out / "data/ground_truth.parquet").get_column("period_start").max()
    assert plan.get_column("period_start").unique().to_list() == [last_in_data + dt.timedelta(days=14)]  # the fortnight after the data
    assert plan.get_column("binding").is_in(["none", "range edge", "retention", "budget"]).all()
    html = (out / "report/report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES) and "Table 1" in html  # figure_slopes: simulated data
    assert html.index("What to do") < html.index("What it costs") < html.index("Table 1")  # the plan opens the report
    for figure in ("figure3_eda", "figure4_elasticity", "figure5_probabilities", "figure6_offers"):
        assert (out / "report" / f"{figure}.png").stat().st_size > 5_000
    assert len(list((out / "optimize/variants").glob("offers_*.parquet"))) > 1  # beside a truth, every variant (compare_variants auto)
    again = runner.invoke(app, ["run", "--data", "simulated", "--quick", "--out", str(out)])
    assert again.exit_code == 0 and again.output.count("resumed") == 9


def test_the_backtest_compares_variants_only_where_a_truth_can_score_them(tmp_path: Path) -> None:
    real, simulated = tmp_path / "real", tmp_path / "simulated"
    real.mkdir(), simulated.mkdir()
    pl.DataFrame({"x": [1]}).write_parquet(simulated / "ground_truth.parquet")
    assert [_compare_variants("auto", str(f)) for f in (real, simulated)] == [False, True]
    assert _compare_variants("always", str(real)) and not _compare_variants("never", str(simulated))


@pytest.mark.parametrize("data", ["missing-folder", "empty-folder", "wrong-layout", "unknown-category"])
def test_bad_input_to_run_is_one_line_and_writes_nothing(tmp_path: Path, data: str, small_sim_dir: Path) -> None:
    source, options = tmp_path / data, []
    if data == "empty-folder":
        source.mkdir()
    if data == "wrong-layout":  # canonical file names, but not the canonical columns
        source.mkdir()
        (source / "transactions.csv").write_text("household,product,day,amount\n1,2,2017-01-01,3.5\n")
        (source / "items.csv").write_text("item_id,category,brand,brand_type\n2,A,b,National\n")
    if data == "unknown-category":  # found by the prepare stage, after the run folder was made
        source = small_sim_dir
        (tmp_path / "c.toml").write_text('[panel]\ncategories = ["NO SUCH CATEGORY"]\n')
        options = ["--config", str(tmp_path / "c.toml")]
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--data", str(source), "--out", str(out), *options])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()[-1]) > 20 and "error" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage, named",
    [
        ("truncated tcn.pt", "tcn.pt: not a readable TCN checkpoint"),
        ("missing rule.json", "rule.json: missing"),
        ("truncated lightgbm.json", "lightgbm.json: not a readable JSON file"),
        ("training.json not json", "training.json: not a readable JSON file"),
        ("training.json without slugs", "training.json: not the expected JSON"),
        ("models of another panel's folds", "training.json: models of fold(s) [99]"),
        ("models tuned on the decided period", "slice.json: fold 0's models were validated on period"),
    ],
)
def test_evaluate_on_damaged_models_is_one_line_naming_the_file_and_train(quick_run: Path, tmp_path: Path, damage: str, named: str) -> None:
    models = tmp_path / "models"
    shutil.copytree(quick_run / "models", models)
    checkpoint = min(models.glob("fold0/*/"))
    if damage == "truncated tcn.pt":
        _truncate(checkpoint / "tcn.pt")
    if damage == "missing rule.json":
        (checkpoint / "rule.json").unlink()
    if damage == "truncated lightgbm.json":
        _truncate(checkpoint / "lightgbm.json")
    if damage == "training.json not json":
        (models / "training.json").write_text("not json")
    if damage == "training.json without slugs":
        (models / "training.json").write_text('{"models": [{"fold": 0}]}')
    if damage == "models of another panel's folds":
        (models / "training.json").write_text((models / "training.json").read_text().replace('"fold": 0', '"fold": 99'))
    if damage == "models tuned on the decided period":  # as a panel with one fold more shifts every fold's periods
        record = json.loads((checkpoint / "slice.json").read_text())
        (checkpoint / "slice.json").write_text(json.dumps(record | {"validation": record["test"], "test": record["test"] + 1}))
    out = tmp_path / "evaluation"
    result = runner.invoke(app, ["evaluate", "--panel", str(quick_run / "prepared"), "--models", str(models), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert named in result.output and "offerwise train" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.slow
def test_thresholds_without_metrics_and_a_run_with_a_truncated_summary(quick_run: Path, tmp_path: Path) -> None:
    evaluation = tmp_path / "evaluation"
    shutil.copytree(quick_run / "evaluation", evaluation)
    (evaluation / "metrics.csv").unlink()
    result = runner.invoke(app, ["thresholds", "--evaluation", str(evaluation), "--panel", str(quick_run / "prepared")])
    assert result.exit_code == 2 and "metrics.csv: missing; run `offerwise evaluate" in result.output, result.output
    out = tmp_path / "run"
    shutil.copytree(quick_run, out, ignore=shutil.ignore_patterns("data", "models", "report"))
    _truncate(out / "recommendations" / "summary.csv")
    with pytest.raises(InputError, match=r"summary.csv: not a readable CSV file"):
        pipeline.summary(out)


def test_run_refuses_an_out_folder_inside_the_data_folder(tmp_path: Path, small_sim_dir: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_sim_dir, data)
    result = runner.invoke(app, ["run", "--data", str(data), "--out", str(data / "out")])
    assert result.exit_code == 2 and "inside the --data folder" in result.output, result.output
    assert not (data / "out").exists()


@pytest.mark.slow
def test_optimize_refuses_a_fold_or_an_elasticity_folder_that_is_not_the_panels(quick_run: Path, tmp_path: Path) -> None:
    prepared = quick_run / "prepared"
    evaluation = tmp_path / "evaluation"
    shutil.copytree(quick_run / "evaluation", evaluation)
    result = runner.invoke(
        app, ["optimize", "--panel", str(prepared), "--evaluation", str(evaluation), "--out", str(tmp_path / "o"), "--fold", "5"]
    )
    assert result.exit_code == 2 and "--fold 5: the panel has folds" in result.output, result.output
    pairs = pl.read_parquet(evaluation / "pair_elasticity.parquet")
    pairs.with_columns(pl.col("customer_id") + 10**6).write_parquet(evaluation / "pair_elasticity.parquet")  # another run's pairs
    result = runner.invoke(app, ["optimize", "--panel", str(prepared), "--evaluation", str(evaluation), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "made from another panel" in result.output, result.output
    pairs.with_columns(pl.col("period") + 1).write_parquet(evaluation / "pair_elasticity.parquet")  # another fold's decision
    result = runner.invoke(app, ["optimize", "--panel", str(prepared), "--evaluation", str(evaluation), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "run `offerwise elasticity --fold" in result.output, result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_stages_refuse_folders_made_from_another_panel(quick_run: Path, tmp_path: Path) -> None:
    from offerwise import pipeline
    from offerwise.config import Config

    other = tmp_path / "other"
    pipeline.prepare(str(quick_run / "data"), other, Config().override("panel", min_purchases=3))  # the same data, another panel
    commands = {
        "evaluate": ["evaluate", "--panel", str(other), "--models", str(quick_run / "models"), "--out", str(tmp_path / "e")],
        "thresholds": ["thresholds", "--evaluation", str(quick_run / "evaluation"), "--panel", str(other), "--out", str(tmp_path / "t")],
        "optimize": ["optimize", "--panel", str(other), "--evaluation", str(quick_run / "evaluation"), "--out", str(tmp_path / "o")],
    }
    for verb, command in commands.items():
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "made from another panel than" in result.output, (verb, result.output)
    assert not any((tmp_path / name).exists() for name in ("e", "t", "o"))


@pytest.mark.slow
def test_evaluate_accepts_a_forward_fold_scored_with_the_backtests_models(quick_run: Path, tmp_path: Path) -> None:
    # model.forward_models = "reuse" (make run's setting): the forward entries point at the backtest's models
    models = tmp_path / "models"
    shutil.copytree(quick_run / "models", models)
    training = json.loads((models / "training.json").read_text())
    backtest = [e for e in training["models"] if e["fold"] == 0]
    training["models"] = backtest + [{**e, "fold": 1, "reused_from_fold": 0} for e in backtest]
    (models / "training.json").write_text(json.dumps(training))
    result = runner.invoke(app, ["evaluate", "--panel", str(quick_run / "prepared"), "--models", str(models), "--out", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_the_plan_s_fortnight_played_and_measured_agrees_with_the_truth(quick_run: Path, tmp_path: Path) -> None:
    """simulate --play, then measure, on the quick run's plan: plan − holdout and the plan's value per
    pair lie within 3.5 standard errors of the simulator's truth (a biased estimator would not)."""
    from offerwise.experiment.truth import true_values

    run = tmp_path / "run"  # measure writes into the run folder: a copy keeps the shared one as it was
    (run / "recommendations").mkdir(parents=True)
    shutil.copy(quick_run / "config.json", run / "config.json")
    for name in ("offers.parquet", "experiment.json", "response.csv"):
        shutil.copy(quick_run / "recommendations" / name, run / "recommendations" / name)
    played = runner.invoke(app, ["simulate", "--play", str(run), "--data", str(quick_run / "data"), "--out", str(tmp_path / "next")])
    assert played.exit_code == 0, played.output
    measured = runner.invoke(app, ["measure", "--data", str(tmp_path / "next"), "--run", str(run)])
    assert measured.exit_code == 0, measured.output
    design = json.loads((run / "recommendations" / "experiment.json").read_text())
    truth = true_values(
        pl.read_parquet(run / "recommendations" / "offers.parquet"),
        pl.read_parquet(tmp_path / "next" / "played_truth.parquet"),
        design["explore_share"],
        design["levels"],
    )
    summary = pl.read_csv(run / "measurement" / "summary.csv")
    for estimate, target in (("plan_minus_holdout_cuped", truth["difference"]), ("plan_value_dr", truth["plan_value"])):
        row = summary.filter(pl.col("estimate") == estimate).row(0, named=True)
        se = (row["high"] - row["low"]) / (2 * 1.645)
        assert abs(row["value"] - target) < 3.5 * se, (estimate, row, target)
    history = pl.read_csv(run / "measurement" / "offer_history.csv")
    assert history.height == pl.read_parquet(run / "recommendations" / "offers.parquet").height
    assert history.get_column("expected_offer_pct").is_not_null().all()  # every pair of the plan was randomised (holdout or exploration)


@pytest.mark.slow
def test_the_report_is_the_same_in_a_notebook(quick_run: Path) -> None:
    from offerwise.config import Config

    cfg = Config.model_validate_json((quick_run / "config.json").read_text())
    page = pipeline.Pipeline(cfg).report("simulated", run=quick_run)
    offers = pl.read_parquet(quick_run / "recommendations/offers.parquet")
    assert "The plan per category" in page.tables and set(FIGURES) <= set(page.pngs)
    assert page.numbers["pairs"] == offers.height and page.numbers["consumers"] == offers.get_column("customer_id").n_unique()
    assert page.html == (quick_run / "report/report.html").read_text()  # the page the run wrote


def test_elasticity_reads_the_curves_evaluate_scored_and_they_equal_its_own(quick_run: Path, tmp_path: Path, monkeypatch) -> None:
    """evaluate's scoring pass wrote each fold's offer curves: elasticity uses them instead of scoring
    again, with the same result; without them, or with another training's, it scores itself."""
    from offerwise.pipeline import decide

    prepared, models = quick_run / "prepared", quick_run / "models"
    evaluation = tmp_path / "evaluation"
    shutil.copytree(quick_run / "evaluation", evaluation)
    own_scoring = decide.pair_scores_of_shard
    scored: list[int] = []
    monkeypatch.setattr(decide, "pair_scores_of_shard", lambda *a, **k: scored.append(1) or own_scoring(*a, **k))
    run = lambda out: decide.elasticity(prepared, models, tmp_path / out, evaluation=evaluation, decision_model="tcn")
    run("from-curves")
    assert not scored
    stamp = json.loads((evaluation / "offer_curves.json").read_text())
    (evaluation / "offer_curves.json").write_text(json.dumps(stamp | {"models": "another training"}))
    run("scored")
    assert scored
    a, b = (pl.read_parquet(tmp_path / out / "pair_elasticity.parquet") for out in ("from-curves", "scored"))
    assert a.columns == b.columns and a.select("customer_id", "item_id").equals(b.select("customer_id", "item_id"))
    for column in [c for c, t in a.schema.items() if t.is_float()]:
        assert (a.get_column(column) - b.get_column(column)).abs().max() < 1e-5, column
