"""Data-parallel training on Ray Train: one worker is the local fit; two workers train, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offerwise.config import ModelConfig
from offerwise.model.metrics import bce
from offerwise.model.tcn import TCNModel

CFG = ModelConfig(epochs=3, threads=1, batch_size=64)


@pytest.mark.slow
def test_one_ray_train_worker_reproduces_the_local_fit(category_slice, tmp_path: Path, ray_cluster) -> None:
    from offerwise.model.distributed import fit_distributed

    sl, enc, t, m = category_slice
    local = TCNModel(config=CFG, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    remote = fit_distributed(TCNModel(config=CFG, encoders=enc), t, m["train"], m["validation"], workers=1, storage=tmp_path)
    assert remote.selection_ == local.selection_
    np.testing.assert_array_equal(remote.predict_proba(t), local.predict_proba(t))


@pytest.mark.slow
def test_two_ddp_workers_train_a_model_that_beats_the_base_rate(category_slice, tmp_path: Path, ray_cluster) -> None:
    from offerwise.model.distributed import fit_distributed

    sl, enc, t, m = category_slice
    model = fit_distributed(TCNModel(config=CFG, encoders=enc), t, m["train"], m["validation"], workers=2, storage=tmp_path)
    model.save(tmp_path / "tcn.pt")
    loaded = TCNModel.load(tmp_path / "tcn.pt")
    p = loaded.predict_proba(t)
    y = t.y[m["validation"]]
    assert bce(y, p[m["validation"]]) < bce(y, np.full(y.size, y.mean()))  # learned something beyond the base rate
    assert len(model.history_) == CFG.epochs
