"""A small simulated category, its encoders, tensors and split masks, shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from offerwise.config import PanelConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.features.build import build_panel
from offerwise.model.slices import make_slice, split_masks
from offerwise.model.tensors import Encoders, to_tensors


@pytest.fixture(scope="package")
def small_panel(small_sim_dir: Path):
    return build_panel(read_amexpert(small_sim_dir), PanelConfig())


@pytest.fixture(scope="package")
def category_slice(small_panel):
    panel = small_panel
    category = panel.frame.get_column("category").unique().sort()[0]
    sl = make_slice(panel.frame, panel.splits, 0, category)
    enc = Encoders.fit(sl.frame, panel.features, pl.col("period").is_in(sl.train_periods))
    t = to_tensors(sl.frame, enc)
    return sl, enc, t, split_masks(t, sl)
