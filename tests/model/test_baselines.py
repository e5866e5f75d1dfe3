from __future__ import annotations

import numpy as np

from offerwise.config import ModelConfig
from offerwise.model.baselines import LightGBMBaseline
from offerwise.model.metrics import roc_auc


def test_lightgbm_trains_on_the_last_n_training_periods_only(category_slice) -> None:
    _, enc, t, m = category_slice
    ids = [j for j, c in enumerate(enc.static_categorical) if c in ("customer_id", "item_id")]
    cfg = ModelConfig(lightgbm_rounds=30, lightgbm_train_periods=3, threads=1)
    model = LightGBMBaseline(config=cfg, id_columns=ids).fit(t, m["train"], m["validation"])
    train_periods = np.flatnonzero(m["train"].any(axis=0))
    assert model.train_rows_ == int(m["train"][:, train_periods[-3:]].sum())
    full = LightGBMBaseline(config=cfg.model_copy(update={"lightgbm_train_periods": None}), id_columns=ids).fit(
        t, m["train"], m["validation"]
    )
    assert full.train_rows_ == int(m["train"].sum())
    p = model.predict_proba(t)
    assert p.shape == t.y.shape
    assert roc_auc(t.y[m["validation"]], p[m["validation"]]) > 0.55  # small data: better than chance, not a benchmark
