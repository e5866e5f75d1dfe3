"""Baselines on the same panel, split and metrics: LightGBM on the features, and a recency/frequency rule."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from offerwise.config import ModelConfig
from offerwise.model.tensors import SequenceTensors, last_periods


def flat_features(t: SequenceTensors, id_columns: list[int], mask: np.ndarray | None = None) -> tuple[np.ndarray, list[int]]:
    """Rows for trees, (rows, F): temporal and static features side by side, ids left out; the rows of
    `mask` (P, T) in row-major order (None: every row). Gathering only the rows asked for keeps the
    (P, T, F) array, most of it history the trees never score, from being built."""
    P, T = t.y.shape
    pi, ti = np.nonzero(np.ones((P, T), bool) if mask is None else mask)
    keep = [j for j in range(t.scat.shape[1]) if j not in id_columns]
    parts = [t.tc[pi, ti], t.tcat[pi, ti].astype(np.float32), t.sc[pi], t.scat[pi][:, keep].astype(np.float32)]
    start = t.tc.shape[2]
    categorical = list(range(start, start + t.tcat.shape[2]))
    start += t.tcat.shape[2] + t.sc.shape[1]
    categorical += list(range(start, start + len(keep)))
    return np.concatenate(parts, axis=1), categorical


class LightGBMBaseline:
    def __init__(self, *, config: ModelConfig = ModelConfig(), id_columns: list[int] | None = None) -> None:
        self.config = config
        self.id_columns = id_columns or []

    def fit(self, data: SequenceTensors, train_mask: np.ndarray, val_mask: np.ndarray) -> LightGBMBaseline:
        train_mask = last_periods(train_mask, self.config.lightgbm_train_periods)  # a row model: recent rows' features carry the history
        X, cats = flat_features(data, self.id_columns, train_mask)
        params = {
            "objective": "binary",
            "learning_rate": self.config.lightgbm_learning_rate,
            "num_leaves": 31,
            "min_data_in_leaf": 50,
            "feature_fraction": 0.8,
            "verbose": -1,
            "seed": self.config.seed,
            "deterministic": True,
            "num_threads": self.config.threads or 0,
        }
        train = lgb.Dataset(X, data.y[train_mask], categorical_feature=cats, free_raw_data=False)
        valid = (
            lgb.Dataset(flat_features(data, self.id_columns, val_mask)[0], data.y[val_mask], reference=train) if val_mask.any() else None
        )
        callbacks = [lgb.early_stopping(self.config.lightgbm_patience, verbose=False)] if valid is not None else []
        self.booster_ = lgb.train(params, train, self.config.lightgbm_rounds, valid_sets=[valid] if valid else None, callbacks=callbacks)
        self.train_rows_ = train.num_data()
        return self

    def predict_proba(self, data: SequenceTensors, columns: list[int] | None = None) -> np.ndarray:
        """(P, T) probabilities; with `columns`, only those period columns are scored (a row model: each
        row's probability is its own features', so the others need not be built) and the rest are NaN."""
        P, T = data.y.shape
        mask = None if columns is None else np.isin(np.arange(T), columns)[None, :].repeat(P, axis=0)
        X, _ = flat_features(data, self.id_columns, mask)
        scores = self.booster_.predict(X, num_iteration=self.booster_.best_iteration or None).astype(np.float32)
        if mask is None:
            return scores.reshape(P, T)
        out = np.full((P, T), np.nan, np.float32)
        out[mask] = scores
        return out

    def save(self, path: Path) -> None:
        from offerwise import io

        io.write_json({"id_columns": self.id_columns, "booster": self.booster_.model_to_string()}, path)

    @classmethod
    def load(cls, path: Path) -> LightGBMBaseline:
        from offerwise import io

        saved = io.read_json(path, rerun=retrain(path), require=["id_columns", "booster"])
        model = cls(id_columns=saved["id_columns"])
        try:
            model.booster_ = lgb.Booster(model_str=saved["booster"])
        except lgb.basic.LightGBMError:
            raise io.damaged(path, "LightGBM model", retrain(path)) from None
        return model


def retrain(checkpoint: str | Path) -> str:
    """What writes a model checkpoint (<models>/fold<k>/<slug>/<file>) again."""
    from offerwise import io

    parents = Path(checkpoint).parents
    return io.rerun("train", parents[2]) if len(parents) > 2 and parents[1].name.startswith("fold") else "run `offerwise train` again"


class RecencyFrequencyRule:
    """Purchase rate on the training rows with the same recency (periods since last order, capped
    at 8) and order-frequency decile, Laplace-smoothed: a calibrated "bought recently / often" rule."""

    def __init__(self, *, max_recency: int = 8) -> None:
        self.max_recency = max_recency

    def _cells(self, since_last: np.ndarray, frequency: np.ndarray) -> np.ndarray:
        r = np.clip(np.nan_to_num(since_last, nan=self.max_recency), 1, self.max_recency).astype(int) - 1
        f = np.clip((frequency * 10).astype(int), 0, 9)
        return r * 10 + f

    def fit(self, since_last: np.ndarray, frequency: np.ndarray, y: np.ndarray, mask: np.ndarray) -> RecencyFrequencyRule:
        cells = self._cells(since_last, frequency)[mask]
        n = np.bincount(cells, minlength=self.max_recency * 10)
        hits = np.bincount(cells, y[mask], minlength=self.max_recency * 10)
        prior = y[mask].mean()
        self.table_ = ((hits + 2 * prior) / (n + 2)).astype(np.float32)
        return self

    def predict_proba(self, since_last: np.ndarray, frequency: np.ndarray) -> np.ndarray:
        return self.table_[self._cells(since_last, frequency)]

    def save(self, path: Path) -> None:
        from offerwise import io

        io.write_json({"max_recency": self.max_recency, "table": self.table_.tolist()}, path)

    @classmethod
    def load(cls, path: Path) -> RecencyFrequencyRule:
        from offerwise import io

        saved = io.read_json(path, rerun=retrain(path), require=["max_recency", "table"])
        rule = cls(max_recency=saved["max_recency"])
        rule.table_ = np.array(saved["table"], dtype=np.float32)
        return rule
