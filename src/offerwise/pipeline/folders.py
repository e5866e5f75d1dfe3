"""The run folder's contract: what each stage writes, how it is read back and checked.

    <out>/prepared/        panel.parquet (or panel/shard=k/), splits.csv, features.json, status_quo.parquet, config.json
          models/          fold<k>/<slug>/tcn.pt, lightgbm.json, rule.json, slice.json; training.json
          evaluation/      predictions, metrics, thresholds, F1, the backtest's elasticity and offer response
          optimize/        the backtest's offers (scored against what happened), offer_levels.json
          recommendations/ the forward plan: offers.{parquet,csv}, summary.csv, its elasticity
          report/          report.html and figures

Every artifact is read and written through `offerwise.io`; a damaged or foreign one is an InputError
naming the file and the command that writes it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from offerwise import io
from offerwise.columns import PAIR
from offerwise.config import ModelConfig
from offerwise.errors import InputError
from offerwise.features import periods
from offerwise.features.manifest import Feature
from offerwise.features.offers import OFFER_NOISE
from offerwise.features.shards import read_panel
from offerwise.model.scoring import OFFER_GRID
from offerwise.optimize.levels import CategoryLevels


def silent(message: str) -> None:
    pass


@dataclass
class Prepared:
    """A prepared panel read back: frame, features, splits (with `decision`), manifest, status quo."""

    frame: pl.DataFrame
    features: list[Feature]
    splits: pl.DataFrame
    manifest: dict
    status_quo: pl.DataFrame  # fold, customer_id, item_id, category, reference_offer_pct, reference_rule
    validation_sq: pl.DataFrame | None = None  # fold, customer_id, item_id, reference_offer_pct: the status quo at each cutoff
    panel_id: str = ""  # a fingerprint of the manifest and splits: what later stages' folders record and check (MADE_FROM)

    def folds(self, decision: str | None = None) -> list[int]:
        s = self.splits if decision is None else self.splits.filter(pl.col("decision") == decision)
        return sorted(s.get_column("fold").unique().to_list())

    @property
    def forward_fold(self) -> int:
        return self.folds("forward")[0]

    @property
    def last_backtest_fold(self) -> int:
        return self.folds("backtest")[-1]

    def decision_fold(self, fold: int | None) -> int:
        """`fold` (--fold) checked against the panel's folds; None: the last backtest fold."""
        if fold is None:
            return self.last_backtest_fold
        if fold not in self.folds():
            kinds = ", ".join(f"{f} ({'forward' if f == self.forward_fold else 'backtest'})" for f in self.folds())
            raise InputError(f"--fold {fold}: the panel has folds {kinds}.")
        return fold

    def min_orders(self, model: ModelConfig) -> int:
        """The order periods a pair must have had before a training row counts (model.train_rows)."""
        return int(self.manifest.get("min_purchases", 0)) if model.train_rows == "eligible" else 0

    def decided_period(self, fold: int) -> int:
        return int(self.splits.filter((pl.col("fold") == fold) & (pl.col("split") == "test")).get_column("period").item())

    def period_dates(self, period: int) -> tuple[dt.date, dt.date]:
        return period_dates(self.manifest, period)

    def status_quo_of(self, fold: int) -> pl.DataFrame:
        return self.status_quo.filter(pl.col("fold") == fold).drop("fold")

    def validation_sq_of(self, fold: int) -> pl.DataFrame | None:
        return None if self.validation_sq is None else self.validation_sq.filter(pl.col("fold") == fold).drop("fold")


def period_dates(manifest: dict, period: int) -> tuple[dt.date, dt.date]:
    """First and last day of a period, from the panel manifest (features.json) or a panel's info."""
    return periods.period_dates(period, anchor=dt.date.fromisoformat(str(manifest["anchor"])), period_days=int(manifest["period_days"]))


VALIDATION_SQ = "validation_status_quo.parquet"


OUTSIDE_ITEMS = "outside_items.parquet"  # prepared/: each decision's purchases outside its items (features/outside.py)
OFFER_RULES = "offer_rules.parquet"  # prepared/: the retailer's offer rules, validated (data/offer_rules.py)


OFFER_CURVES = "offer_curves.parquet"  # evaluation/: each fold's decided pairs re-scored over the offer grid (model/fit.py)
OFFER_CURVES_STAMP = "offer_curves.json"  # beside it: the models (`models_digest`) and grid they were scored with
LEVELS = "offer_levels.json"  # each decision's folder: the levels every category was allowed (optimize/levels.py)
EXPERIMENT = "experiment.json"  # recommendations/: the plan's arms, shares, levels and power (experiment/design.py)


PREDICTION_COLUMNS = ["fold", "customer_id", "item_id", "split", "model", "probability", "label"]


MADE_FROM = "made_from.json"


def resume_hint(out: Path) -> str:
    """What to do about a run folder's damaged or missing artifact."""
    return f"run `offerwise run` with --out {out} again (it resumes)"


def stage_folder(path: Path, option: str, verb: str) -> None:
    """A stage's input is the folder a verb wrote; a file given there gets its own line, not a hint to write into it."""
    if path.is_file():
        raise InputError(f"--{option} {path}: is a file; give the folder `offerwise {verb}` wrote (here perhaps {path.parent}).")


def read_prepared(panel: Path, *, rows: bool = True) -> Prepared:
    """rows=False: everything but the panel's rows (frame empty), for stages that read shards themselves.
    A damaged or incomplete file is an InputError naming it and `offerwise prepare`."""
    stage_folder(panel, "panel", "prepare")
    for name in ("features.json", "splits.csv", "status_quo.parquet"):
        if not (panel / name).is_file():
            raise InputError(f"{panel / name}: missing; run `offerwise prepare --out {panel}` first.")
    if not (panel / "panel.parquet").is_file() and not (panel / "panel").is_dir():
        raise InputError(f"{panel / 'panel.parquet'}: missing; run `offerwise prepare --out {panel}` first.")
    rerun_hint = io.rerun("prepare", panel)
    manifest = io.read_json(panel / "features.json", rerun=rerun_hint, require=["features", "period_days", "anchor"])
    try:
        features = [Feature(**f) for f in manifest["features"]]
    except TypeError:  # not a list of objects with Feature's fields
        raise io.damaged(
            panel / "features.json", "JSON file", rerun_hint, "not the expected JSON: its 'features' are not features"
        ) from None
    splits = io.read_csv(panel / "splits.csv", rerun=rerun_hint, require=["split", "decision"], numeric=["fold", "period"])
    if not splits.height:
        raise io.damaged(panel / "splits.csv", "CSV file", rerun_hint, "no rows")
    sq = io.read_parquet(panel / "status_quo.parquet", rerun=rerun_hint, require=PAIR, numeric=["fold"])
    validation_sq = io.read_parquet(panel / VALIDATION_SQ, rerun=rerun_hint, require=PAIR) if (panel / VALIDATION_SQ).is_file() else None
    frame = _read_panel_rows(panel, rerun_hint) if rows else pl.DataFrame()
    if rows and OFFER_NOISE not in frame.columns:
        raise InputError(f"{panel}: a panel prepared by an older offerwise (no {OFFER_NOISE} column); {rerun_hint}.")
    return Prepared(
        frame=frame,
        features=features,
        splits=splits,
        manifest=manifest,
        status_quo=sq,
        validation_sq=validation_sq,
        panel_id=hashlib.sha256((json.dumps(manifest, sort_keys=True, default=str) + splits.write_csv()).encode()).hexdigest()[:16],
    )


def stamp_made_from(folder: Path, p: Prepared, panel: Path) -> None:
    """Record in a stage's output folder which panel it was made from (checked by `check_made_from`)."""
    io.write_json({"panel_id": p.panel_id, "panel": str(panel)}, folder / MADE_FROM)


def check_made_from(folder: Path, p: Prepared, panel: Path, record: str = MADE_FROM) -> None:
    """A stage's input folder must come from this panel: another run's models or evaluation would be
    scored or optimised against pairs, prices and periods that are not theirs. A folder without the
    record was written by an older offerwise (or by hand): one line saying to run its stage again."""
    path = folder / record
    made = io.read_json(path).get("panel_id") if path.is_file() else None
    if made is None:
        raise InputError(
            f"{folder}: no {record} saying which panel it was made from (an older offerwise?); run its stage on {panel} again."
        )
    if made != p.panel_id:
        raise InputError(f"{folder}: made from another panel than {panel} (its {record} says so); run the stages on {panel} again.")


def _read_panel_rows(panel: Path, rerun_hint: str) -> pl.DataFrame:
    """The panel's rows (features.shards.read_panel), or InputError naming the file that cannot be read."""
    try:
        return read_panel(panel)
    except io.UNREADABLE_PARQUET:
        where = panel / "panel.parquet" if (panel / "panel.parquet").is_file() else panel / "panel"
        raise io.damaged(where, "Parquet file" if where.suffix else "set of Parquet shards", rerun_hint) from None
    except pl.exceptions.SchemaError:  # shards of different prepares (an interrupted one)
        raise io.damaged(panel / "panel", "", rerun_hint, "its shards hold different columns (an interrupted prepare?)") from None


def training_entries(models: Path) -> list[dict]:
    """The model sets `offerwise train` saved: fold, category, slug, dir (relative to `models`)."""
    stage_folder(models, "models", "train")
    if not (models / "training.json").is_file():
        raise InputError(f"{models / 'training.json'}: missing; run `offerwise train --out {models}` first.")
    entries = io.read_json(models / "training.json", rerun=io.rerun("train", models), require=["models"])["models"]
    keys = ("fold", "category", "slug")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and all(k in e for k in keys) for e in entries):
        problem = f"not the expected JSON: each of its 'models' needs {', '.join(keys)}"
        raise io.damaged(models / "training.json", "JSON file", io.rerun("train", models), problem)
    return [{"dir": f"fold{e['fold']}/{e['slug']}", **e} for e in entries]


def read_levels(folder: Path) -> dict:
    """The levels each category of a decision was allowed (offer_levels.json, written by optimize)."""
    return {c: CategoryLevels.from_dict(d) for c, d in io.read_json(folder / LEVELS, rerun=io.rerun("optimize", folder)).items()}


def rounded_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV for people: probabilities to 4 decimals, money and offers to 2 (Parquet keeps full precision)."""
    rules = {"p_": 4, "retention": 4, "probability": 4, "threshold": 4}

    def digits(name: str) -> int:
        return next((d for prefix, d in rules.items() if name.startswith(prefix)), 2)

    return frame.with_columns(pl.col(c).round(digits(c)) for c, t in frame.schema.items() if t.is_float())


def models_digest(models: Path, entries: list[dict]) -> str:
    """A digest of the TCN weights of `entries` (their files' bytes): what scores made from them are
    checked against, so a stage never reads another training's scores."""
    digest = hashlib.sha256()
    for d in sorted({e["dir"] for e in entries}):
        digest.update(d.encode())
        digest.update((models / d / "tcn.pt").read_bytes())
    return digest.hexdigest()[:16]


def evaluated_curves(evaluation: Path | None, models: Path, fold: int) -> pl.DataFrame | None:
    """The fold's offer curves from `evaluation` when they were scored with these models on the grid, else None."""
    stamp = None if evaluation is None else evaluation / OFFER_CURVES_STAMP
    if stamp is None or not stamp.is_file() or not (evaluation / OFFER_CURVES).is_file():
        return None
    made = io.read_json(stamp, rerun=io.rerun("evaluate", evaluation))
    if made.get("models") != models_digest(models, training_entries(models)) or made.get("grid") != OFFER_GRID.tolist():
        return None
    curves = io.read_parquet(evaluation / OFFER_CURVES, rerun=io.rerun("evaluate", evaluation)).filter(pl.col("fold") == fold)
    return curves if curves.height else None


def stack_inputs(evaluation: Path | None, fold: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The fold's stack weights and LightGBM's decided-period probabilities, from `evaluate`."""
    if evaluation is None or not (evaluation / "stack_weights.csv").is_file():
        raise InputError(f"{evaluation}: no stack_weights.csv; run `offerwise evaluate` first (or set model.decision_model = 'tcn').")
    rerun_hint = io.rerun("evaluate", evaluation)
    weights = io.read_csv(
        evaluation / "stack_weights.csv", rerun=rerun_hint, require=["category"], numeric=["fold", "w_tcn", "w_lightgbm", "intercept"]
    ).filter(pl.col("fold") == fold)
    lightgbm = (
        io.read_parquet(evaluation / "predictions.parquet", rerun=rerun_hint, require=PREDICTION_COLUMNS)
        .filter((pl.col("fold") == fold) & (pl.col("split") == "test") & (pl.col("model") == "lightgbm"))
        .select(*PAIR, p_lightgbm="probability")
    )
    return weights, lightgbm
