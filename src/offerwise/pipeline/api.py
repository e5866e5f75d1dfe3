"""The whole run (every stage, resumable) and the notebook API.

Every decision is a function of a cutoff: it uses the periods up to the cutoff and decides the
period after it. The prepared panel holds one fold per decision: the backtest folds decide periods
that happened and are scored against them; the last fold, the forward plan, decides the fortnight
after the data ends. Both run the same runners; only scoring differs.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from offerwise import __version__, io
from offerwise.config import Config
from offerwise.data.load import load_data
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import write_simulation
from offerwise.errors import InputError
from offerwise.features.shards import panel_held
from offerwise.lock import run_lock
from offerwise.pipeline.decide import elasticity, optimize, recommend
from offerwise.pipeline.folders import resume_hint, silent
from offerwise.pipeline.measure import measure
from offerwise.pipeline.models import check_device, evaluate, thresholds, train
from offerwise.pipeline.prepare import prepare
from offerwise.pipeline.report import built, has_truth, report, summary
from offerwise.pipeline.resume import StageRecords, data_fingerprint, file_fingerprint
from offerwise.report.build import Report


def preflight(data: str, out: Path, *, planned_offers: Path | None = None, offer_rules: Path | None = None) -> int | None:
    """What can be checked before anything is written: the data folder loads, the plan and rules
    files exist, and --out is not inside --data (its own files would count as changed data).
    Returns a data folder's transaction lines (None for the built-in sources)."""
    lines = None
    if data not in ("complete-journey", "simulated"):
        lines = load_data(data, with_promotions=False).transactions.height  # fail fast on a wrong folder
    for option, path in (("--planned-offers", planned_offers), ("--offer-rules", offer_rules)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{option} {path}: file not found.")
    if data not in ("complete-journey", "simulated") and out.resolve().is_relative_to(Path(data).resolve()):
        raise InputError(
            f"--out {out}: inside the --data folder {data}; the run's own files would count as changed data on every rerun "
            "(nothing would resume). Give a folder outside it."
        )
    return lines


def data_source(data: str, out: Path) -> str:
    """Where a run's data are read from: `data`, or for "simulated" the run folder's own simulation."""
    return str(out / "data") if data == "simulated" else data


def run(
    data: str,
    out: Path,
    cfg: Config,
    *,
    planned_offers: Path | None = None,
    offer_rules: Path | None = None,
    log: Callable[[str], None] = silent,
    checked: bool = False,
) -> dict[str, Any]:
    """Every stage end to end: the backtest (scored) and the forward plan, then the report. One run
    at a time per run folder (lock.py); what an interrupted write left behind is removed first.
    `checked`: the caller ran `preflight` already."""
    if not checked:
        preflight(data, out, planned_offers=planned_offers, offer_rules=offer_rules)
    check_device(cfg.model)  # before anything is written
    with run_lock(out, log=log), panel_held():  # the stages read the panel once between them
        if removed := io.remove_temp_files(out):
            log(f"[dim]removed {removed:,} temporary file(s) an interrupted run left in {out}[/dim]")
        return _run_stages(data, out, cfg, planned_offers=planned_offers, offer_rules=offer_rules, log=log)


def _compare_variants(setting: str, source: str) -> bool:
    """optimize.compare_variants: on real data the variants' values are each in its own model's view,
    which no truth can rank; beside a simulator's truth the report scores them (policy scores)."""
    return setting == "always" or (setting == "auto" and has_truth(source))


def _resume_key(data: str, cfg: Config, planned_offers: Path | None, offer_rules: Path | None) -> dict[str, Any]:
    """What a stage record must match to be resumed: the config, the files read (by name), the version."""
    files = {} if data == "simulated" else data_fingerprint(data)
    for option, path in (("--planned-offers", planned_offers), ("--offer-rules", offer_rules)):
        if path is not None:
            files[f"{option} {Path(path).name}"] = file_fingerprint(path)
    inputs = {"data": cfg.simulation.model_dump_json() if data == "simulated" else files}
    return {
        "config_hash": cfg.hash(),
        "inputs": hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16],
        "input_files": files,
        "version": __version__,
    }


def _run_stages(
    data: str, out: Path, cfg: Config, *, planned_offers: Path | None, offer_rules: Path | None, log: Callable[[str], None]
) -> dict[str, Any]:
    io.write_text(cfg.model_dump_json(indent=2), out / "config.json")
    simulated = data == "simulated"
    source = data_source(data, out)
    key = _resume_key(data, cfg, planned_offers, offer_rules)
    stage = StageRecords(out, key, log)
    prepared, models, evaluation = out / "prepared", out / "models", out / "evaluation"
    if simulated:
        stage("simulate", lambda: write_simulation(simulate(cfg.simulation), out / "data", cfg.simulation))
    stage("prepare", lambda: prepare(source, prepared, cfg, planned_offers=planned_offers, offer_rules=offer_rules, log=log))
    stage("train", lambda: train(prepared, models, cfg, reuse_for_forward=cfg.model.forward_models == "reuse", log=log))
    stage("evaluate", lambda: evaluate(prepared, models, evaluation, runtime=cfg.runtime, log=log))
    stage("thresholds", lambda: thresholds(evaluation, evaluation, panel=prepared))
    decider = cfg.model.decision_model
    response = cfg.response if cfg.optimize.response == "dml" else None
    stage(
        "elasticity",
        lambda: elasticity(
            prepared, models, evaluation, evaluation=evaluation, decision_model=decider, response=response, runtime=cfg.runtime, log=log
        ),
    )
    stage(
        "optimize",
        lambda: optimize(
            prepared,
            evaluation,
            evaluation,
            out / "optimize",
            cfg.optimize,
            compare=_compare_variants(cfg.optimize.compare_variants, source),
            decision_model=decider,
            runtime=cfg.runtime,
            log=log,
        ),
    )
    stage(
        "recommend",
        lambda: recommend(
            prepared,
            models,
            evaluation,
            out / "recommendations",
            cfg.optimize,
            run_id=out.name,
            decision_model=decider,
            response=response,
            runtime=cfg.runtime,
            # forward_models = "reuse": the forward plan also reuses the backtest's offer response (one estimate, not two)
            response_from=evaluation if cfg.model.forward_models == "reuse" else None,
            experiment=cfg.experiment,
            log=log,
        ),
    )
    stage("report", lambda: report(out, source, data, cfg))
    return summary(out, cfg)


class Pipeline:
    """The notebook API: `Pipeline(config).backtest(data)`, `.recommend(data, planned_offers=...)` and,
    once the planned fortnight has run, `.measure(export, run)`.

    The first two run the same decision at different cutoffs into a run folder (a temporary one unless
    `out` is given) and return its frames.
    """

    def __init__(self, config: Config | None = None, *, out: Path | None = None, log: Callable[[str], None] = silent) -> None:
        self.config = config or Config()
        self.out, self.log = out, log

    def _run(self, data: str, planned_offers: Path | None, offer_rules: Path | None = None) -> Path:

        out = self.out or Path(tempfile.mkdtemp(prefix="offerwise-"))
        run(data, out, self.config, planned_offers=planned_offers, offer_rules=offer_rules, log=self.log)
        return out

    def backtest(self, data: str) -> dict[str, pl.DataFrame]:
        """The backtest decision scored against what happened: metrics, F1, offers, summary."""
        out = self._run(data, None)
        frames = {
            "metrics": io.read_csv(out / "evaluation" / "metrics.csv", rerun=resume_hint(out)),
            "f1": io.read_csv(out / "evaluation" / "f1.csv", rerun=resume_hint(out)),
            "offers": io.read_parquet(out / "optimize" / "offers.parquet", rerun=resume_hint(out)),
            "summary": io.read_csv(out / "optimize" / "optimization_summary.csv", rerun=resume_hint(out)),
        }
        if (out / "report" / "policy_score.csv").is_file():
            frames["policy_score"] = io.read_csv(out / "report" / "policy_score.csv", rerun=resume_hint(out))
        return frames

    def recommend(self, data: str, planned_offers: Path | None = None, offer_rules: Path | None = None) -> dict[str, pl.DataFrame]:
        """The forward plan for the fortnight after the data: offers and the per-category summary."""
        out = self._run(data, planned_offers, offer_rules)
        return {
            "offers": io.read_parquet(out / "recommendations" / "offers.parquet", rerun=resume_hint(out)),
            "summary": io.read_csv(out / "recommendations" / "summary.csv", rerun=resume_hint(out)),
        }

    def report(self, data: str, run: Path | None = None) -> Report:
        """The report of the run in `run` (default `out`) on `data`, for reuse in a notebook; nothing is
        written. `.tables`: heading -> the frame the page shows; `.pngs`: figure name -> PNG bytes
        (IPython.display.Image(data=...)); `.numbers`: the first screen's totals; `.html`: the page."""
        if run is None and self.out is None:
            raise InputError("Pipeline.report: give the run folder (run=...) or Pipeline(out=...).")
        out = Path(run or self.out)
        return built(out, data_source(data, out), data, self.config)[0]

    def measure(self, data: str, run: Path | None = None) -> dict[str, pl.DataFrame]:
        """The plan in `run` (default `out`) measured on the export `data` now covering its fortnight:
        summary, by_category, slopes, offer_history (also written to <run>/measurement/). This
        Pipeline's config plays `measure --config`: experiment.level, experiment.bootstrap, panel.end."""
        if run is None and self.out is None:
            raise InputError("Pipeline.measure: give the run folder (run=...) or Pipeline(out=...).")
        result = measure(data, Path(run or self.out), self.config, log=self.log)["measurement"]
        return {name: getattr(result, name) for name in ("summary", "by_category", "slopes", "offer_history")}
