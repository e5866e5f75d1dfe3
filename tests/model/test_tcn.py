from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from offerwise.config import ModelConfig
from offerwise.errors import InputError
from offerwise.model.metrics import average_precision, roc_auc
from offerwise.model.tcn import TCNModel
from offerwise.model.tensors import Encoders, to_tensors

FAST = ModelConfig(epochs=4, channels=8, hidden=[16, 8, 4], batch_size=64, patience=10, threads=1)


def test_training_is_deterministic_and_reports_validation_loss(category_slice) -> None:
    _, enc, t, m = category_slice
    a = TCNModel(config=FAST, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    b = TCNModel(config=FAST, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    np.testing.assert_array_equal(a.predict_proba(t), b.predict_proba(t))
    assert set(a.selection_) == {"best_checkpoint", "checkpoint_average", "swa"}
    assert all(np.isfinite(v) for v in a.selection_.values())
    assert a.selection_[a.chosen_] == min(a.selection_.values())


def test_save_load_gives_identical_predictions_and_unknown_levels_score(category_slice, tmp_path: Path) -> None:
    sl, enc, t, m = category_slice
    model = TCNModel(config=FAST, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    model.save(tmp_path / "tcn.pt")
    loaded = TCNModel.load(tmp_path / "tcn.pt")
    np.testing.assert_array_equal(model.predict_proba(t), loaded.predict_proba(t))
    # New consumers and items the model never saw map to the "unknown" code, not an error.
    renamed = sl.frame.with_columns(pl.col("customer_id") + 10_000_000, pl.col("item_id") + 10_000_000)
    unseen = to_tensors(renamed, loaded.encoders)
    ids = [j for j, c in enumerate(loaded.encoders.static_categorical) if c in ("customer_id", "item_id")]
    assert (unseen.scat[:, ids] == 0).all()
    assert np.isfinite(loaded.predict_proba(unseen)).all()


def test_tiny_model_overfits_a_tiny_panel(category_slice) -> None:
    _, enc, t, m = category_slice
    few = np.zeros_like(m["train"])
    few[:40] = m["train"][:40]
    cfg = FAST.model_copy(
        update={"epochs": 150, "dropout": 0.0, "scheduler": "none", "swa": False, "lr": 3e-3, "channels": 16, "min_batches_per_epoch": 1}
    )
    model = TCNModel(config=cfg, encoders=enc).fit(t, few, few, progress=False)
    p = model.predict_proba(t)[few]
    assert roc_auc(t.y[few], p) > 0.97


def test_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert roc_auc(y, p) == pytest.approx(0.75)
    assert average_precision(y, p) == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_predict_at_offers_equals_rescoring_whole_sequences(category_slice) -> None:
    _, enc, t, m = category_slice
    model = TCNModel(config=FAST.model_copy(update={"epochs": 1}), encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    column, grid, j = t.y.shape[1] - 5, np.array([0.0, 20.0, 55.0]), enc.temporal_continuous.index("offer_pct")
    fast = model.predict_at_offers(t, column, grid, batch=50)
    assert fast.shape == (t.y.shape[0], grid.size)
    for g, offer in enumerate(grid):
        changed = copy.deepcopy(t)
        changed.tc[:, column, j] = (offer - enc.mean["offer_pct"]) / enc.std["offer_pct"]
        np.testing.assert_allclose(fast[:, g], model.predict_proba(changed)[:, column], atol=1e-5)


def test_intercept_calibration_matches_the_validation_rate_and_keeps_rankings(category_slice) -> None:
    _, enc, t, m = category_slice
    cfg = FAST.model_copy(update={"epochs": 2})
    raw = TCNModel(config=cfg.model_copy(update={"calibrate": "none"}), encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    calibrated = TCNModel(config=cfg, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    assert raw.calibration_shift_ == 0.0 and calibrated.calibration_shift_ != 0.0
    p_raw, p_cal = raw.predict_proba(t), calibrated.predict_proba(t)
    assert p_cal[m["validation"]].mean() == pytest.approx(t.y[m["validation"]].mean(), abs=1e-4)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(logit(p_cal) - logit(p_raw), calibrated.calibration_shift_, atol=2e-3)  # one shift everywhere


def test_hashed_consumer_ids_save_load_and_score_new_consumers(small_panel, category_slice, tmp_path: Path) -> None:
    sl, _, _, m = category_slice
    hashed = Encoders.fit(sl.frame, small_panel.features, pl.col("period").is_in(sl.train_periods), hashed={"customer_id": 64})
    t = to_tensors(sl.frame, hashed)
    cfg = FAST.model_copy(update={"epochs": 1, "customer_buckets": 64})
    model = TCNModel(config=cfg, encoders=hashed).fit(t, m["train"], m["validation"], progress=False)
    assert model.network_.static_emb[hashed.static_categorical.index("customer_id")].num_embeddings == 65
    model.save(tmp_path / "tcn.pt")
    loaded = TCNModel.load(tmp_path / "tcn.pt")
    np.testing.assert_array_equal(model.predict_proba(t), loaded.predict_proba(t))
    unseen = to_tensors(sl.frame.with_columns(pl.col("customer_id") + 10_000_000), loaded.encoders)
    assert (unseen.scat[:, hashed.static_categorical.index("customer_id")] >= 1).all()  # a bucket, not the unknown code


def test_a_checkpoint_from_an_older_offerwise_is_one_line_saying_to_retrain(category_slice, tmp_path: Path) -> None:
    _, enc, t, m = category_slice
    model = TCNModel(config=FAST.model_copy(update={"epochs": 1}), encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    model.save(tmp_path / "tcn.pt")
    payload = torch.load(tmp_path / "tcn.pt", weights_only=False)
    del payload["config"]["customer_buckets"]  # written before the key existed
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(InputError, match="old.pt: .*written by an older offerwise"):
        TCNModel.load(tmp_path / "old.pt")


def _unknown_embedding_shift(enc, t, m, dropout: float) -> float:
    """How far training moves the "unknown" calendar code's embeddings from their initial values."""
    cfg = FAST.model_copy(update={"weight_decay": 0.0, "swa": False, "unknown_level_dropout": dropout})
    model = TCNModel(config=cfg, encoders=enc)
    torch.manual_seed(cfg.seed)
    initial = [e.weight[0].detach().clone() for e in model.build_network().temporal_emb]
    model.fit(t, m["train"], m["validation"], progress=False)
    trained = [e.weight[0].detach() for e in model.network_.temporal_emb]
    assert enc.temporal_categorical and len(initial) == len(trained)
    return max(float((a - b).abs().max()) for a, b in zip(initial, trained))


def test_unknown_level_dropout_trains_the_unknown_calendar_embedding(small_panel, category_slice) -> None:
    """With every calendar level known (encoders fitted on all periods) no input carries the
    "unknown" code, so without the dropout its embedding never moves from its random start: a week
    never seen in training would get that random vector. With it, training replaces codes by unknown
    and that embedding learns."""
    sl, _, _, m = category_slice
    enc = Encoders.fit(sl.frame, small_panel.features, pl.lit(True))
    t = to_tensors(sl.frame, enc)
    assert (t.tcat > 0).all()
    assert _unknown_embedding_shift(enc, t, m, 0.0) == 0.0
    assert _unknown_embedding_shift(enc, t, m, 0.3) > 1e-3


def test_candidates_an_epoch_scored_are_not_scored_again_and_score_the_same(category_slice, monkeypatch) -> None:
    """With 2 epochs SWA averages one epoch (its weights are that epoch's): only the checkpoint average is new."""
    import offerwise.model.tcn as tcn
    from offerwise.model.scoring import masked_probabilities

    _, enc, t, m = category_slice
    model = TCNModel(config=FAST.model_copy(update={"epochs": 2}), encoders=enc)
    trained = model.train_epochs(t, m["train"], m["validation"], progress=False)
    calls = []
    monkeypatch.setattr(tcn, "masked_probabilities", lambda *args: calls.append(1) or masked_probabilities(*args))
    reused = model.validation_predictions(trained, t, m["validation"])
    assert len(calls) == 1  # the checkpoint average
    net = model.build_network()
    for name, state in tcn._candidates(trained).items():
        net.load_state_dict(state)
        np.testing.assert_array_equal(reused[name], masked_probabilities(net, t, m["validation"], torch.device("cpu")))
