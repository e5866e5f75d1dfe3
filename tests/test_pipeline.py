"""Decisions are a function of a cutoff: nothing realised in the decided period reaches them, and the
forward plan is the backtest at the last cutoff."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from offerwise import io, pipeline
from offerwise.cli import app
from offerwise.config import Config, ModelConfig, OptimizeConfig, OptionError, PanelConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.errors import InputError
from offerwise.features.build import build_panel
from offerwise.pipeline.decide import _unoptimised
from offerwise.pipeline.resume import StageRecords

TX = "customer_transaction_data.csv"
PERIOD = dt.timedelta(days=14)
FAST = Config(
    panel=PanelConfig(train_periods=12),
    model=ModelConfig(epochs=2, lightgbm_rounds=20, swa=False, average_best=1, min_batches_per_epoch=5, batch_size=64, threads=1),
)


def _last_day(folder: Path) -> dt.date:
    return pl.read_csv(folder / TX).get_column("date").str.to_date().max()


def _copy(source: Path, target: Path, keep: pl.Expr | None = None, change: list[pl.Expr] | None = None) -> Path:
    """A copy of a simulated AmExpert folder with its transactions filtered (`keep`) or changed."""
    shutil.copytree(source, target)
    tx = pl.read_csv(source / TX)
    if keep is not None:
        tx = tx.filter(keep)
    if change:
        tx = tx.with_columns(change)
    tx.write_csv(target / TX)
    return target


def _backtest_offers(source: Path, out: Path, cfg: Config) -> pl.DataFrame:
    """The backtest decision alone: prepare, fit the backtest fold, score, cut-offs, response, offers."""
    prepared, models, evaluation = out / "prepared", out / "models", out / "evaluation"
    pipeline.prepare(str(source), prepared, cfg)
    fold = pipeline.read_prepared(prepared).last_backtest_fold
    pipeline.train(prepared, models, cfg, folds=[fold], progress=False)
    pipeline.evaluate(prepared, models, evaluation)
    pipeline.thresholds(evaluation, evaluation)
    pipeline.elasticity(prepared, models, evaluation, fold=fold, response=cfg.response)
    pipeline.optimize(prepared, evaluation, evaluation, out / "optimize", cfg.optimize, fold=fold)
    return pl.read_parquet(out / "optimize" / "offers.parquet").sort("customer_id", "item_id")


@pytest.fixture(scope="module")
def sim(small_sim_dir: Path) -> tuple[Path, dt.date, dt.date]:
    """The simulated folder, its last day, and the first day of its last complete period."""
    panel = build_panel(read_amexpert(small_sim_dir), PanelConfig())
    last_start = dt.date.fromisoformat(panel.info["anchor"]) + PERIOD * (panel.info["complete_periods"] - 1)
    return small_sim_dir, _last_day(small_sim_dir), last_start


@pytest.fixture(scope="module")
def backtest(sim, tmp_path_factory) -> pl.DataFrame:
    folder, last_day, _ = sim
    cfg = FAST.model_copy(update={"panel": FAST.panel.model_copy(update={"end": last_day})})
    return _backtest_offers(folder, tmp_path_factory.mktemp("original"), cfg)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["changed", "deleted"])
def test_backtest_offers_ignore_every_transaction_of_the_decided_period(sim, backtest, tmp_path: Path, how: str) -> None:
    folder, last_day, last_start = sim
    decided = pl.col("date").str.to_date() >= last_start
    if how == "deleted":
        copy = _copy(folder, tmp_path / "data", keep=~decided)
    else:  # every line of the decided period doubles its quantity and discount
        copy = _copy(folder, tmp_path / "data", change=[
            pl.when(decided).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c) for c in ("quantity", "selling_price", "other_discount")
        ])  # fmt: skip
    cfg = FAST.model_copy(update={"panel": FAST.panel.model_copy(update={"end": last_day})})  # the same horizon
    offers = _backtest_offers(copy, tmp_path / "run", cfg)
    assert offers.height == backtest.height > 0
    assert_frame_equal(offers, backtest)


@pytest.mark.slow
def test_forward_plan_on_truncated_data_equals_the_backtest_at_that_cutoff(sim, backtest, tmp_path: Path) -> None:
    folder, _, last_start = sim
    copy = _copy(folder, tmp_path / "data", keep=pl.col("date").str.to_date() < last_start)
    history = pl.read_csv(folder / "offer_history.csv", try_parse_dates=True)
    history.filter(pl.col("start_date") < last_start).write_csv(copy / "offer_history.csv")
    history.filter(pl.col("start_date") == last_start).write_csv(copy / "planned_offers.csv")  # the recorded plan, as a plan
    cfg = FAST.model_copy(update={"panel": FAST.panel.model_copy(update={"end": last_start - dt.timedelta(days=1)})})
    out = tmp_path / "run"
    pipeline.prepare(str(copy), out / "prepared", cfg)
    prepared = pipeline.read_prepared(out / "prepared")
    pipeline.train(out / "prepared", out / "models", cfg, folds=[prepared.forward_fold], progress=False)
    pipeline.evaluate(out / "prepared", out / "models", out / "evaluation")
    pipeline.thresholds(out / "evaluation", out / "evaluation")
    plan, _ = pipeline.recommend(out / "prepared", out / "models", out / "evaluation", out / "recommendations", cfg.optimize, run_id="t",
                                 response=cfg.response)  # fmt: skip
    assert plan.get_column("period_start").unique().to_list() == [last_start]
    columns = ["customer_id", "item_id", "reference_offer_pct", "plan_offer_pct", "p_reference", "p_plan"]  # the plan; its experiment apart
    expected = backtest.select("customer_id", "item_id", "reference_offer_pct", plan_offer_pct="recommended_offer_pct", p_reference="probability",
                               p_plan="predicted_probability")  # fmt: skip
    assert_frame_equal(plan.select(columns).sort("customer_id", "item_id"), expected)


def test_future_row_features_equal_the_rebuilt_panel_once_the_period_has_happened(sim, tmp_path: Path) -> None:
    folder, _, last_start = sim
    copy = _copy(folder, tmp_path / "data", keep=pl.col("date").str.to_date() < last_start)
    before = build_panel(read_amexpert(copy), PanelConfig(end=last_start - dt.timedelta(days=1)))
    after = build_panel(read_amexpert(folder), PanelConfig())
    future = before.info["future_period"]
    assert after.info["complete_periods"] == future + 1
    planned = {f.name for f in before.features if f.known_in_advance and f.family in ("price_offer", "interaction")}  # decided or planned
    keys = ["customer_id", "item_id", "period"]
    names = [f.name for f in before.features if f.name not in planned and f.name not in keys]
    a = before.frame.filter(pl.col("period") == future).select(*keys, *names)
    b = after.frame.filter(pl.col("period") == future).select(*keys, *names).join(a.select(keys), on=keys, how="semi")
    assert a.height > 100 and b.height == a.height
    assert before.frame.filter(pl.col("period") == future).get_column("target").null_count() == a.height
    assert_frame_equal(a.sort(keys), b.sort(keys), check_exact=True)


PLAN_CASES = {
    "unknown item": ("item_id,offer_pct\n999999,10\n", "item_id"),
    "negative offer": ("item_id,offer_pct\n{item},-5\n", "offer_pct"),
    "offer above 100": ("item_id,offer_pct\n{item},140\n", "offer_pct"),
    "not a number": ("item_id,offer_pct\n{item},ten\n", "offer_pct"),
    "duplicate keys": ("item_id,offer_pct\n{item},10\n{item},20\n", "customer_id"),
    "wrong period": ("item_id,offer_pct,start_date,end_date\n{item},10,2001-01-01,2001-01-14\n", "start_date"),
    "missing column": ("item,offer\n{item},10\n", "item_id"),
}


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_bad_planned_offers_stop_with_one_line_naming_file_column_and_rows(sim, tmp_path: Path, case: str) -> None:
    folder, _, _ = sim
    item = pl.read_csv(folder / "item_data.csv").get_column("item_id").first()
    text, column = PLAN_CASES[case]
    plan = tmp_path / "planned.csv"
    plan.write_text(text.format(item=item))
    out = tmp_path / "prepared"
    result = CliRunner().invoke(app, ["prepare", "--data", str(folder), "--out", str(out), "--planned-offers", str(plan)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "planned.csv" in result.output and f"'{column}'" in result.output
    assert not out.exists()


def test_overlapping_offer_history_is_refused(sim, tmp_path: Path) -> None:
    folder, _, _ = sim
    copy = _copy(folder, tmp_path / "data")
    history = pl.read_csv(folder / "offer_history.csv")
    pl.concat([history, history.head(1)]).write_csv(copy / "offer_history.csv")
    result = CliRunner().invoke(app, ["prepare", "--data", str(copy), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "offer_history.csv" in result.output and "start_date" in result.output


def test_one_piece_prepare_over_a_sharded_one_leaves_no_shard_to_read(sim, tmp_path: Path) -> None:
    from offerwise.features.shards import panel_parts

    folder, _, _ = sim
    sharded = Config().override("runtime", shards=2)
    pipeline.prepare(str(folder), tmp_path, sharded)
    assert panel_parts(tmp_path)
    pipeline.prepare(str(folder), tmp_path, Config())
    assert panel_parts(tmp_path) == [] and not (tmp_path / "lines").exists()  # the stages would score the old shards' rows


def test_offer_history_of_other_dates_is_refused(sim, tmp_path: Path) -> None:
    folder, _, _ = sim
    copy = _copy(folder, tmp_path / "data")
    years = pl.duration(days=20 * 364)
    history = pl.read_csv(folder / "offer_history.csv", try_parse_dates=True)
    history.with_columns(pl.col("start_date") - years, pl.col("end_date") - years).write_csv(copy / "offer_history.csv")
    result = CliRunner().invoke(app, ["prepare", "--data", str(copy), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "offer_history.csv: no row falls in the data's dates" in result.output, result.output
    assert not (tmp_path / "p").exists()


def test_offer_history_rows_that_change_nothing_are_counted(sim, tmp_path: Path) -> None:
    folder, _, _ = sim
    copy = _copy(folder, tmp_path / "data")
    history = pl.read_csv(folder / "offer_history.csv", try_parse_dates=True)
    stranger = history.head(1).with_columns(
        customer_id=pl.lit(10**9), start_date=pl.lit(dt.date(1990, 1, 1)), end_date=pl.lit(dt.date(1990, 1, 14))
    )
    pl.concat([history, stranger], how="diagonal_relaxed").write_csv(copy / "offer_history.csv")
    messages: list[str] = []
    pipeline.prepare(str(copy), tmp_path / "p", Config(), log=messages.append)
    assert any(f"1 of {history.height + 1:,} rows outside the data's dates, 1 naming consumers" in m for m in messages), messages


def test_planned_offers_are_the_forward_status_quo(sim, tmp_path: Path) -> None:
    folder, _, _ = sim
    out = tmp_path / "prepared"
    planned = pl.read_csv(folder / "planned_offers.csv")
    pipeline.prepare(str(folder), out, FAST)
    p = pipeline.read_prepared(out)
    forward = p.status_quo_of(p.forward_fold).join(planned.select("item_id", planned="offer_pct"), on="item_id")
    assert forward.height > 0 and (forward.get_column("reference_rule") == "planned").all()
    assert (forward.get_column("reference_offer_pct") == forward.get_column("planned")).all()
    backtest = p.status_quo_of(p.last_backtest_fold)
    assert (backtest.get_column("reference_rule") == "planned").all()  # the offer history's record of that period


@pytest.mark.slow
def test_recommend_on_the_complete_journey_quick(tmp_path: Path) -> None:
    out, config = tmp_path / "cj", tmp_path / "small.toml"
    # --quick's settings on fewer consumers (--quick takes 400) and a smaller offer-response sample: the
    # real export end to end, in CI's time (68 s against 146 s with the response's default sample)
    config.write_text(
        "[panel]\nmax_customers = 150\ntop_categories = 2\n[model]\nepochs = 3\nlightgbm_rounds = 100\n"
        "[response]\nperiods = 8\nmax_rows = 20000\nplacebo_max_rows = 5000\n"
    )
    result = CliRunner().invoke(app, ["recommend", "--data", "complete-journey", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    plan = pl.read_csv(out / "recommendations" / "offers.csv", try_parse_dates=True)
    assert plan.height > 100 and plan.get_column("period_start").n_unique() == 1
    assert plan.get_column("period_start").first() > dt.date(2017, 12, 1)  # after the data (2017) ends
    assert "offers for" in result.output


@pytest.mark.slow
def test_resume_reruns_every_stage_when_the_data_changed(sim, tmp_path: Path) -> None:
    folder, _, _ = sim
    copy = _copy(folder, tmp_path / "data")
    config = tmp_path / "fast.toml"
    config.write_text("[panel]\ntrain_periods = 12\n[model]\nepochs = 1\nlightgbm_rounds = 10\nswa = false\nmin_batches_per_epoch = 5\n")
    command = ["run", "--data", str(copy), "--config", str(config), "--out", str(tmp_path / "run")]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, command)
    assert again.output.count("resumed") == 8  # nothing changed: every stage resumes
    tx = pl.read_csv(copy / TX)
    tx.slice(50).write_csv(copy / TX)  # the same folder, an export without its first 50 lines
    changed = CliRunner().invoke(app, command)
    assert changed.exit_code == 0, changed.output
    assert "resumed" not in changed.output and "the input data changed" in changed.output


def _infeasible(R: float, B: float | None = None) -> str:
    """A category's status as optimize_category writes it when the solvers' feasibility check fails."""
    import numpy as np

    from offerwise.optimize.solvers import InfeasibleError, check_feasible

    retained, spend = np.array([[0.2, 0.5], [0.3, 0.6]]), np.array([[1.0, 2.0], [1.0, 2.0]])  # at most 1.1 retained, spend >= 2
    with pytest.raises(InfeasibleError) as caught:
        check_feasible(np.ones((2, 2), bool), retained, R, spend, B)
    return f"infeasible: {caught.value}"


@pytest.mark.parametrize(
    ("failures", "named"),
    [
        (["retention", "retention"], ["'optimize.retention' option (5,"]),
        (["budget"], ["'optimize.budget' option (1e-09"]),
        (["retention", "budget"], ["'optimize.retention'", "'optimize.budget'"]),
    ],
)
def test_no_category_optimised_names_the_option_at_fault(failures: list[str], named: list[str]) -> None:
    cfg = OptimizeConfig(retention=5.0, budget=1e-9)
    statuses = [_infeasible(R=5.0) if f == "retention" else _infeasible(R=0.5, B=1.0) for f in failures]
    error = _unoptimised(cfg, statuses)
    assert isinstance(error, OptionError) and str(error).startswith("No category could be optimised")
    assert all(key in str(error) for key in named)


def test_no_category_optimised_for_another_reason_names_no_option() -> None:
    cfg = OptimizeConfig(retention=5.0)
    error = _unoptimised(cfg, [_infeasible(R=5.0), "infeasible: 3 pair(s) have no offer level inside the offer range."])
    assert not isinstance(error, OptionError) and str(error) == "No category could be optimised; see the messages above."


def test_cuda_where_torch_has_none_stops_before_training(tmp_path: Path, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pipeline.check_device(ModelConfig(device="auto"))
    cuda = Config(model=ModelConfig(device="cuda"))
    with pytest.raises(OptionError, match=r"^The 'model.device' option is 'cuda'"):
        pipeline.train(tmp_path / "no-panel", tmp_path / "models", cuda)
    with pytest.raises(OptionError, match="'model.device'"):
        pipeline.run("simulated", tmp_path / "run", cuda)
    assert not (tmp_path / "models").exists() and not (tmp_path / "run").exists()


def _stages(out: Path, messages: list[str], **key: str) -> StageRecords:
    return StageRecords(out, {"config_hash": "c", "inputs": "i", "version": "v", **key}, messages.append)


def _writes(out: Path, *files: str, text: str = "x") -> Callable[[], None]:
    def action() -> None:
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text)

    return action


def test_resume_reruns_a_stage_whose_outputs_are_missing_or_changed(tmp_path: Path) -> None:
    def once(**key: str) -> list[str]:
        messages: list[str] = []
        stage = _stages(tmp_path, messages, **key)
        stage("evaluate", _writes(tmp_path, "evaluation/metrics.csv", "evaluation/predictions.parquet"))
        stage("thresholds", _writes(tmp_path, "evaluation/metrics.csv", text="joined"))  # rewrites evaluate's file: no rerun for that
        stage("recommend", _writes(tmp_path, "recommendations/offers.csv", "recommendations/summary.csv"))
        return [m for m in messages if "──" in m or "✓" in m]

    assert all("not run yet" in m or "──" in m for m in once())
    assert all("resumed" in m for m in once())
    (tmp_path / "recommendations/offers.csv").unlink()
    assert "recommendations/offers.csv is missing" in once()[-1]
    (tmp_path / "evaluation/predictions.parquet").write_text("cut")
    first = once()
    assert "evaluation/predictions.parquet changed since it was written" in first[0] and "evaluate reran" in first[1]
    assert "the config changed" in once(config_hash="other")[0]  # the earlier reasons still hold
    assert all("resumed" in m for m in once(config_hash="other"))


def test_an_interrupted_stage_and_a_broken_or_old_record_rerun(tmp_path: Path) -> None:
    messages: list[str] = []
    _stages(tmp_path, messages)("prepare", _writes(tmp_path, "prepared/splits.csv"))

    def interrupted() -> None:
        _writes(tmp_path, "prepared/splits.csv", text="half")()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _stages(tmp_path, messages, config_hash="B")("prepare", interrupted)  # another config: Ctrl-C while rewriting
    assert not (tmp_path / ".stages/prepare.json").exists()  # removed before the outputs were touched
    _stages(tmp_path, messages)("prepare", _writes(tmp_path, "prepared/splits.csv"))
    assert (
        messages[-2].startswith("[bold]── prepare") and "prepared/splits.csv" in io.read_json(tmp_path / ".stages/prepare.json")["outputs"]
    )
    (tmp_path / ".stages/prepare.json").write_text("{")
    _stages(tmp_path, messages)("prepare", _writes(tmp_path, "prepared/splits.csv"))
    assert "its record is unreadable" in messages[-2]
    (tmp_path / ".stages/prepare.json").write_text('{"config_hash": "c", "inputs": "i", "version": "v"}')  # before outputs were recorded
    _stages(tmp_path, messages)("prepare", _writes(tmp_path, "prepared/splits.csv"))
    assert "lists no outputs" in messages[-2]


def _tiny_panel(panel: Path) -> Path:
    """The smallest prepared folder read_prepared accepts."""
    panel.mkdir()
    pl.DataFrame({"fold": [0], "period": [0], "split": ["test"], "decision": ["forward"]}).write_csv(panel / "splits.csv")
    (panel / "features.json").write_text('{"features": [], "period_days": 14, "anchor": "2020-01-06"}')
    pl.DataFrame({"fold": [0], "customer_id": [1], "item_id": [2]}).write_parquet(panel / "status_quo.parquet")
    pl.DataFrame({"customer_id": [1], "offer_noise_var": [0.0]}).write_parquet(panel / "panel.parquet")
    return panel


@pytest.mark.parametrize(
    "damage, named",
    [
        ("empty.parquet", "status_quo.parquet: not a readable Parquet file"),
        ("cut.json", "features.json: not a readable JSON file"),
        ("{}.json", "features.json: not the expected JSON: no key 'features'"),
        ("garbage.csv", "splits.csv: not a readable CSV file: no column"),
        ("empty.csv", "splits.csv: not a readable CSV file"),
        ("missing.parquet", "status_quo.parquet: missing"),
    ],
)
def test_damaged_prepared_file_is_one_input_error_naming_it_and_prepare(tmp_path: Path, damage: str, named: str) -> None:
    panel = _tiny_panel(tmp_path / "prepared")
    pipeline.read_prepared(panel)  # intact
    target = {"parquet": "status_quo.parquet", "json": "features.json", "csv": "splits.csv"}[damage.split(".")[1]]
    content = {"empty": "", "cut": '{"features": [', "{}": "{}", "garbage": "garbage\n"}.get(damage.split(".")[0])
    if content is None:
        (panel / target).unlink()
    else:
        (panel / target).write_text(content)
    with pytest.raises(InputError) as error:
        pipeline.read_prepared(panel)
    assert named in str(error.value) and f"offerwise prepare --out {panel}" in str(error.value) and "\n" not in str(error.value)


def test_a_stage_folder_without_its_made_from_record_is_one_line_saying_to_run_it_again(tmp_path: Path) -> None:
    from offerwise.pipeline.folders import check_made_from, stamp_made_from

    panel = _tiny_panel(tmp_path / "prepared")
    p, folder = pipeline.read_prepared(panel), tmp_path / "evaluation"
    folder.mkdir()
    with pytest.raises(InputError, match=r"evaluation: no made_from.json saying which panel .* run its stage on .* again"):
        check_made_from(folder, p, panel)
    stamp_made_from(folder, p, panel)
    check_made_from(folder, p, panel)  # its own panel's: accepted
