"""One typed config: per-stage models under `Config`, loaded from one TOML, saved beside artifacts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from offerwise.errors import InputError


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Stage):
    unknown_items: Literal["drop", "error"] = "drop"
    with_promotions: bool = True


class SimulationConfig(_Stage):
    customers: int = Field(600, ge=1)
    items: int = Field(240, ge=1)
    weeks: int = Field(60, ge=4)
    categories: int = Field(4, ge=1)
    items_per_customer: int = Field(14, ge=1)
    seed: int = 7
    start: dt.date = dt.date(2018, 1, 1)


class PanelConfig(_Stage):
    period_days: int = Field(14, ge=1)
    start: dt.date | None = None  # default: the first Monday on or before the first transaction
    min_purchases: int = Field(2, ge=1)
    item_level: str = "item_id"  # or a coarser item attribute, e.g. product_type
    min_pairs_per_category: int = Field(50, ge=1)
    categories: list[str] | None = None  # None: every category with enough pairs
    train_periods: int = Field(24, ge=1)
    folds: int = Field(1, ge=1)
    lag_windows: list[int] = [2, 4, 8]
    max_customers: int | None = None  # a documented sample for quick looks


class Config(_Stage):
    data: DataConfig = DataConfig()
    simulation: SimulationConfig = SimulationConfig()
    panel: PanelConfig = PanelConfig()

    @classmethod
    def from_toml(cls, path: str | Path | None) -> Config:
        if path is None:
            return cls()
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: config file not found.")
        try:
            return cls.model_validate(tomllib.loads(path.read_text()))
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise InputError(f"{path}: invalid config: {exc}") from exc

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]
