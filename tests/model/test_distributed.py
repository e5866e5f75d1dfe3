"""Data-parallel training on Ray Train: one worker is the local fit; two workers train, save and load."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl
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


def _shard_files(frame: pl.DataFrame, folder: Path, n: int) -> list[Path]:
    from offerwise.features.shards import shard_of

    files = []
    for k in range(n):
        files.append(folder / f"shard={k}" / "part-0.parquet")
        files[-1].parent.mkdir(parents=True)
        frame.filter(shard_of("customer_id", n) == k).write_parquet(files[-1])
    return files


def test_each_worker_builds_its_slice_from_its_own_shards_only(small_panel, category_slice, tmp_path: Path) -> None:
    from offerwise.model.distributed import _own_tensors, assign_shards
    from offerwise.model.slices import make_slice

    sl, enc, t, m = category_slice
    files = _shard_files(small_panel.frame, tmp_path, 3)
    slicer = functools.partial(make_slice, splits=small_panel.splits, fold=0, category=sl.frame.get_column("category")[0])
    keys = []
    for rank in (0, 1):
        share = assign_shards(files, 2)[rank]
        own, train, validation = _own_tensors(share, slicer, enc, rank)
        mine = pl.concat([pl.read_parquet(f) for f in share]).get_column("customer_id").unique()
        assert own.keys.get_column("customer_id").is_in(mine.implode()).all()  # nothing from another worker's shards
        assert train.shape == validation.shape == own.y.shape
        keys.append(own.keys.select("customer_id", "item_id"))
    both = pl.concat(keys).sort("customer_id", "item_id")
    assert both.equals(t.keys.select("customer_id", "item_id").sort("customer_id", "item_id"))  # together: every pair once


@pytest.mark.slow
def test_shard_reading_workers_match_the_local_fit(small_panel, category_slice, tmp_path: Path, ray_cluster) -> None:
    """One worker reading every shard is the local fit exactly; two workers, each reading its own
    shards, train a model that beats the base rate."""
    from offerwise.model.distributed import fit_distributed
    from offerwise.model.slices import make_slice

    sl, enc, t, m = category_slice
    files = _shard_files(small_panel.frame, tmp_path / "panel", 4)
    slicer = functools.partial(make_slice, splits=small_panel.splits, fold=0, category=sl.frame.get_column("category")[0])
    local = TCNModel(config=CFG, encoders=enc).fit(t, m["train"], m["validation"], progress=False)
    fits = {
        n: fit_distributed(
            TCNModel(config=CFG, encoders=enc),
            t,
            m["train"],
            m["validation"],
            workers=n,
            storage=tmp_path / f"ray{n}",
            shards=files,
            slicer=slicer,
        )
        for n in (1, 2)
    }
    assert fits[1].selection_ == local.selection_
    np.testing.assert_array_equal(fits[1].predict_proba(t), local.predict_proba(t))
    y = t.y[m["validation"]]
    assert bce(y, fits[2].predict_proba(t)[m["validation"]]) < bce(y, np.full(y.size, y.mean()))


def test_shards_go_to_workers_balanced_by_their_pairs(tmp_path: Path) -> None:
    from offerwise.model.distributed import assign_shards

    files = []
    for k, pairs in enumerate([10, 40, 20, 30, 25]):
        folder = tmp_path / f"shard={k}"
        folder.mkdir()
        (folder / "meta.json").write_text(f'{{"pairs": {pairs}}}')
        files.append(folder / "part-0.parquet")
    share = assign_shards(files, 2)
    loads = [sum([10, 40, 20, 30, 25][files.index(f)] for f in s) for s in share]
    assert sorted(loads) == [60, 65] and sorted(f for s in share for f in s) == sorted(files)
    assert assign_shards(files[:1], 2)[1] == []  # more workers than shards: one gets none
