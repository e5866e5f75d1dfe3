"""One typed config: per-stage models under `Config`, loaded from one TOML, saved beside artifacts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from offerwise.errors import InputError, config_error


class OptionError(InputError):
    """A config option's value that only the data (or this machine) shows to be wrong, found after the
    config was loaded; its message names the key ("The 'panel.start' option ..."). The CLI puts the
    config file in front, as config_error does for values wrong in themselves."""


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _positive_ints(values: list[int]) -> list[int]:
    if not values or min(values) < 1:
        raise ValueError("must be a non-empty list of whole numbers >= 1")
    return values


class DataConfig(_Stage):
    unknown_items: Literal["drop", "error"] = "drop"
    with_promotions: bool = True
    use_offer_history: bool = (
        True  # offer_history.{csv,parquet} in the data folder replaces the inferred offers and gives backtests their plan
    )
    # A consumer id with more lines than this x the median consumer's (a store card swiped for walk-in
    # customers) would get offers and move everyone's models and offer ranges: dropped and counted. 0: off.
    max_lines_per_consumer_ratio: float = Field(50.0, ge=0)


class SimulationConfig(_Stage):
    customers: int = Field(600, ge=1)
    items: int = Field(240, ge=1)
    weeks: int = Field(60, ge=4)
    categories: int = Field(4, ge=1)
    items_per_customer: int = Field(14, ge=1)
    seed: int = Field(7, ge=0)
    start: dt.date = dt.date(2018, 1, 1)
    # "random": an exogenous promotion calendar; "targeted": offers react to last period's weak sales
    # (docs/simulator.md, Confounding). promotion_strength 0 makes "targeted" offers random again.
    promotion_policy: Literal["random", "targeted"] = "random"
    promotion_strength: float = Field(1.0, ge=0)
    shock_rho: float = Field(0.7, ge=0, lt=1)  # AR(1) item demand shock (logit scale), "targeted" only
    shock_sd: float = Field(0.35, ge=0)
    # Within a category a buying consumer picks one item (nested logit, docs/simulator.md, Substitution);
    # False: every consumer-item pair's purchase is drawn independently, as before.
    substitution: bool = False
    category_expansion: float = Field(0.5, gt=0, le=1)  # share of an offer's pull that grows category demand; 1: plain MNL
    cross_category: float = Field(0.0, ge=0)  # how much offers in related categories lower a category's incidence


class PanelConfig(_Stage):
    period_days: int = Field(14, ge=1)
    start: dt.date | None = None  # default: the first Monday on or before the first transaction
    end: dt.date | None = None  # the data's last day; default: the last transaction's date (set it when the export ends on a quiet day)
    min_purchases: int = Field(2, ge=1)
    item_level: str = "item_id"  # or a coarser item attribute, e.g. product_type
    min_pairs_per_category: int = Field(50, ge=1)
    categories: list[str] | None = None  # None: every category with enough pairs
    train_periods: int = Field(24, ge=1)
    folds: int = Field(1, ge=1)
    lag_windows: list[int] = [2, 4, 8]
    max_customers: int | None = Field(None, ge=1)  # a documented sample for quick looks; None: every consumer
    top_categories: int | None = Field(None, ge=1)  # keep only the N categories with the most relevant pairs; None: all
    # The decided fortnight's offer where the retailer has no plan: the pair's mean offer over the last
    # 4 weeks ("recent_offers"), or the paper's reference offer ("paper"; see features/status_quo.py).
    status_quo_rule: Literal["recent_offers", "paper"] = "recent_offers"
    # Features of the other offers the consumer faces (features/interactions.py). False leaves the
    # panel exactly as before: the independent-pairs route.
    interactions: bool = True

    @field_validator("lag_windows")
    @classmethod
    def _distinct_windows(cls, values: list[int]) -> list[int]:
        values = _positive_ints(values)
        if len(set(values)) < len(values):  # each window names its features: a repeat would make them twice
            raise ValueError(f"lists a window more than once ({values})")
        return values


class ModelConfig(_Stage):
    channels: int = Field(32, ge=1)
    dilations: list[int] = [1, 2, 4]  # one residual block per dilation
    kernel_size: int = Field(3, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)  # CPU dropout masks cost ~20 % of a step; SWA and early stopping regularise
    weight_norm: bool = True
    hidden: list[int] = [64, 32, 16]  # the paper's 3 fully connected ReLU layers
    max_embedding: int = Field(16, ge=1)
    # Training replaces each calendar code (temporal categorical) by "unknown" with this probability, so
    # the unknown code's embedding learns the average period: with one year of data the decided
    # fortnight's week of year never occurs in training (docs/results.md). 0: unknown stays untrained.
    unknown_level_dropout: float = Field(0.0, ge=0, lt=1)
    # Standardised continuous inputs (the offer excepted: its term stays linear) clipped to +-input_clip sds; None: not clipped.
    input_clip: float | None = Field(None, gt=0)
    customer_buckets: int | None = Field(0, ge=0)  # consumer id input: 0 none, N hashed into N buckets, None one code per consumer
    offer_term: bool = True  # logit += slope(static inputs) x offer_t: a direct, per-pair offer response
    offer_lr_multiplier: float = Field(1.0, gt=0)  # the offer term's learning rate, x lr
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    scheduler: Literal["cyclic", "plateau", "none"] = "cyclic"
    base_lr: float = Field(1e-6, ge=0)  # CyclicLR lower bound; max is `lr`
    cycle_epochs: float = Field(0.5, gt=0)  # CyclicLR step size = cycle_epochs x batches per epoch
    min_lr: float = Field(1e-6, ge=0)  # ReduceLROnPlateau floor
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)  # pairs (whole sequences) per batch
    min_batches_per_epoch: int = Field(50, ge=1)  # small categories repeat pairs so an epoch still trains
    patience: int = Field(4, ge=1)  # early stopping on validation BCE
    swa: bool = True
    swa_start: float = Field(0.6, ge=0, le=1)  # fraction of epochs before SWA starts averaging
    swa_lr: float = Field(1e-3, gt=0)  # SWALR's learning rate once averaging starts
    calibrate: Literal["none", "intercept"] = "intercept"  # shift the logit so validation probabilities average the validation rate
    average_best: int = Field(3, ge=1)  # checkpoints averaged, weighted by validation loss
    # One shared model with a category embedding; True: one model per category (slower, and worse on the
    # simulator and the Complete Journey: docs/findings.md).
    per_category: bool = False
    # The forward plan's models: the backtest's ("reuse": one training, the same decisions on the
    # simulator: docs/findings.md), or refitted one fortnight later ("refit", --refit-models).
    forward_models: Literal["refit", "reuse"] = "reuse"
    decision_model: Literal["tcn", "stack"] = (
        "stack"  # whose probabilities feed cut-offs and decisions: the stack of TCN and LightGBM, or the TCN alone
    )
    # The stack fitted on validation: "logistic" (two weights and an intercept) or "convex" (a weighted
    # average of the two logits, no intercept: the level stays the parts', not the validation fortnight's).
    stack_form: Literal["logistic", "convex"] = "convex"
    # Fold k's stack weights from the validation fortnights of folds <= k, or of fold k only (model/stack.py).
    stack_validation: Literal["past_folds", "fold"] = "past_folds"
    seed: int = Field(0, ge=0)
    threads: int | None = Field(None, ge=0)  # None or 0: every core torch sees
    train_workers: int = Field(0, ge=0)  # > 0: the TCN trains data-parallel (DDP) on this many Ray Train workers (model/distributed.py)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    lightgbm_rounds: int = Field(300, ge=1)
    lightgbm_learning_rate: float = Field(0.05, gt=0)
    lightgbm_patience: int = Field(30, ge=1)  # rounds without a lower validation loss before LightGBM stops (its best round is kept)
    lightgbm_train_periods: int | None = Field(None, ge=1)  # None: every training period; N: the last N only
    # Training rows: "eligible" counts a row only once its pair had min_purchases order periods before it,
    # as every decided row has (model.slices.eligible_rows); "all": every row of a relevant pair.
    train_rows: Literal["eligible", "all"] = "eligible"

    _layer_lists = field_validator("dilations", "hidden")(_positive_ints)


class ResponseConfig(_Stage):
    periods: int = Field(16, ge=1)  # labelled periods up to the cutoff the offer-response estimate learns from (docs/response.md: 8 vs 16)
    max_rows: int = Field(200_000, ge=1000)  # rows sampled from them (stratified by category; docs/results.md: the time it costs)
    folds: int = Field(2, ge=2)  # cross-fitting folds (grouped by item), each split repeated twice
    final_stage: Literal["linear", "logistic"] = "linear"  # residual regression, or the partially linear logistic score (docs/response.md)
    # The logistic stage's nuisances: "refit" (a LightGBM fit with the linear slope as offset, and an offer fit weighted by
    # p (1 − p)), or "reuse" the linear stage's (no further fit; elasticity.dml.reused_logistic_nuisances).
    logistic_fit: Literal["refit", "reuse"] = "refit"
    offer_noise: Literal["correct", "ignore"] = (
        "correct"  # inferred offers' sampling error: divide slopes by the offer's reliability, and a category whose offer is mostly noise is not identified (docs/response.md)
    )
    level: float = Field(0.90, gt=0, lt=1)  # interval level of the category slopes
    placebo: bool = True  # the backtest also re-estimates with offers permuted within item: its intervals should cover 0
    placebo_max_rows: int = Field(100_000, ge=1000)  # the placebo's row sample (a check, not an estimate: fewer rows, less time)
    cross: bool = True  # also the cross effects of the other offers a consumer faces (elasticity/dml/cross.py), where the panel has them


class OptimizeConfig(_Stage):
    response: Literal["linear", "sigmoid", "counterfactual", "dml"] = "dml"
    # dml: each pair's slope at this quantile of its posterior (0.5: the mean), by response_caution: "change" (q where an
    # offer rises above the status quo, 1 − q where it falls: pessimistic about any move from it; the default, chosen on
    # the simulator with substitution, docs/optimization.md) or "slope" (q wherever the offer moves); either way an offer's
    # pulls on the consumer's other items and categories at q toward taking more of them
    response_quantile: float = Field(0.25, gt=0, lt=1)
    response_caution: Literal["slope", "change"] = "change"
    retention_probability: float = Field(
        0.9, ge=0, lt=1
    )  # dml: retention holds for every category slope in its central interval of this probability (docs/optimization.md); 0: point view
    objective: Literal["indicator", "expected"] = "expected"
    solver: Literal["lagrangian", "milp"] = "lagrangian"
    # The offer levels a category may use (optimize/levels.py, docs/optimization.md): "history" (no offer plus the
    # depths the category ran up to the cutoff), a list of offers % for every category, or "paper" (the relative
    # grid inside the cutoff fortnight's offer_range_percentiles). An offer rules file overrides per category.
    levels: Literal["history", "paper"] | list[float] = "history"
    level_step: float = Field(5.0, gt=0, le=100)  # history: depths snapped to this step; the grid "without rules"
    max_depth_percentile: float = Field(95.0, gt=0, le=100)  # history: no level deeper than this percentile of the non-zero offers
    offer_range_percentiles: tuple[float, float] = (5.0, 95.0)  # levels = "paper": of the non-zero offers faced in the cutoff period
    # "consumer_category": one offer bundle per consumer and category, valued with what its offers take from the
    # consumer's other items (optimize/bundles.py); "pair": every pair alone, as the paper (the independent-pairs route).
    decision: Literal["consumer_category", "pair"] = "consumer_category"
    # `offerwise run`'s backtest also solves every response x objective variant: "auto" where the data hold a simulator's
    # truth to score them against (report: policy scores), "always", or "never" (real data: each variant's value in its own model's view only)
    compare_variants: Literal["auto", "always", "never"] = "auto"
    max_offers_per_category: int = Field(1, ge=1, le=4)  # consumer_category: offers per consumer per category (rules file: per category)
    cross_effects: bool = True  # consumer_category: value bundles with the estimated cross effects (False: as if offers did not compete)
    # consumer_category: "nested_logit" (a single-choice category's items share its purchases, calibrated to the own and
    # cross slopes: optimize/choice_model.py; better on fresh simulator seeds, docs/results.md; elsewhere, and where no
    # substitution is found, it keeps the logit shift) or "logit_shift" (each item's logistic curve moved by the other
    # offers' cross effect, optimize/bundles.py)
    bundle_response: Literal["logit_shift", "nested_logit"] = "nested_logit"
    # "category": the paper's retention target in every category; "plan": one target over the whole plan (one multiplier).
    retention_scope: Literal["category", "plan"] = "category"
    pair_slope_weight: float = Field(
        0.25, ge=0, le=1
    )  # counterfactual: w x pair slope + (1 - w) x category mean slope (docs/results.md: chosen on simulator seed 7, checked on 11, 12)
    retention: float = Field(1.0, gt=0)
    retention_mode: Literal["relative", "absolute"] = "relative"  # x status-quo retention, or a share of pairs
    unit_cost_share: float | None = Field(None, ge=0, le=1)  # margin objective: unit cost = share x price
    budget: float | None = Field(None, gt=0)  # promotion spend cap, x status-quo expected spend
    milp_time_limit: float = Field(60.0, gt=0)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: str | list[float]) -> str | list[float]:
        if isinstance(value, list) and (not value or min(value) < 0 or max(value) > 100):
            raise ValueError("must be 'history', 'paper' or a non-empty list of offers % within [0, 100]")
        return value

    @field_validator("offer_range_percentiles")
    @classmethod
    def _percentiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] < value[1] <= 100:
            raise ValueError("must be two percentiles within [0, 100], the lower first")
        return value


class ExperimentConfig(_Stage):
    """The experiment in every forward plan (experiment/arms.py) and how `offerwise measure` reads it (docs/experiment.md)."""

    holdout_share: float = Field(0.10, ge=0, lt=1)  # consumers who keep the status quo offers, stratified by the plan's uplift
    explore_share: float = Field(0.05, ge=0, lt=1)  # of the other pairs: a random allowed level, its probability recorded
    strata: int = Field(5, ge=1)  # holdout strata: quantiles of the consumer's expected uplift
    # The holdout share is lowered (never raised) where the experiment would give up more than this share of
    # the plan's expected net revenue (experiment/design.py); 1: never lowered
    max_given_up_share: float = Field(0.02, gt=0, le=1)
    seed: int = Field(0, ge=0)  # with the decided fortnight's first day, the key the arms are hashed with
    level: float = Field(0.90, gt=0, lt=1)  # measure: interval level of plan - holdout, the explore slopes, the policy value
    bootstrap: int = Field(200, ge=0)  # measure: cluster-bootstrap replicates by consumer (the check beside CUPED's interval); 0: none


class RuntimeConfig(_Stage):
    """Where shard tasks run (offerwise/runtime.py); the engine never changes a result."""

    engine: Literal["local", "ray"] = "local"  # "ray": one Ray task per shard on the cluster `address` names (pip install offerwise[ray])
    shards: int = Field(1, ge=1, le=128)  # 1: prepared/panel.parquet; N > 1: prepared/panel/shard=k/ by hash(customer_id) mod N
    address: str | None = None  # ray.init address: None starts a local Ray cluster, "auto" joins the one this machine belongs to
    workers: int | None = Field(None, ge=1)  # CPUs of the local Ray cluster (None: all); ignored when joining a cluster
    retries: int = Field(2, ge=0)  # a failed shard task is retried this many times before the stage fails


class Config(_Stage):
    data: DataConfig = DataConfig()
    simulation: SimulationConfig = SimulationConfig()
    panel: PanelConfig = PanelConfig()
    model: ModelConfig = ModelConfig()
    response: ResponseConfig = ResponseConfig()
    optimize: OptimizeConfig = OptimizeConfig()
    experiment: ExperimentConfig = ExperimentConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @classmethod
    def from_toml(cls, path: str | Path | None) -> Config:
        if path is None:
            return cls()
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: config file not found.")
        try:
            text = path.read_text()
            return cls.model_validate_json(text) if path.suffix == ".json" else cls.model_validate(tomllib.loads(text))
        except ValidationError as exc:
            raise config_error(exc, source=str(path)) from None
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise InputError(f"{path}: invalid config: {exc}") from exc

    def override(self, section: str, **values: object) -> Config:
        """This config with the non-None `values` applied to one section, validated (model_copy is not)."""
        current = getattr(self, section) if section in type(self).model_fields else None
        if not isinstance(current, _Stage):
            raise InputError(f"'{section}' is not a config section; sections: {list(type(self).model_fields)}.")
        try:
            updated = type(current).model_validate({**current.model_dump(), **{k: v for k, v in values.items() if v is not None}})
        except ValidationError as exc:
            raise config_error(exc, section=section) from None
        return self.model_copy(update={section: updated})

    def quick(self) -> tuple[Config, list[str]]:
        """`--quick`: 400 consumers, the 2 largest categories, 3 epochs, 100 boosting rounds, a smaller
        simulation. Returns the config and what it changed ("model.epochs: 20 -> 3", ...)."""
        changes = {
            "simulation": {"customers": min(self.simulation.customers, 300)},
            "panel": {"max_customers": 400, "top_categories": 2},
            "model": {"epochs": 3, "lightgbm_rounds": 100},
        }
        said = [
            f"{section}.{key}: {getattr(getattr(self, section), key)} -> {value}"
            for section, values in changes.items()
            for key, value in values.items()
            if getattr(getattr(self, section), key) != value
        ]
        updated = self.model_copy(update={section: getattr(self, section).model_copy(update=values) for section, values in changes.items()})
        return updated, said

    def hash(self) -> str:
        """Of what can change a result: where the work runs (engine, address, workers, retries) cannot."""
        settings = self.model_dump(mode="json")
        settings["runtime"] = {"shards": self.runtime.shards}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
