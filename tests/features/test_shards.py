from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.config import PanelConfig, RuntimeConfig
from offerwise.data.load import load_data
from offerwise.features.build import build_panel
from offerwise.features.shards import PART, build_panel_shards, panel_held, read_panel, shard_of
from offerwise.runtime import Runtime

CFG = PanelConfig(train_periods=12, folds=2)


@pytest.fixture(scope="module")
def sim(small_sim_dir: Path):
    return load_data(str(small_sim_dir))


def _sharded(data, out: Path, engine: str = "local", shards: int = 4):
    return build_panel_shards(data, CFG, out, shards=shards, runtime=Runtime(RuntimeConfig(engine=engine)))


def test_shard_of_is_a_fixed_function_of_the_id() -> None:
    # The contract a cluster's other jobs can rely on: Fibonacci hashing, not Polars' (version-dependent) hash.
    ids = pl.DataFrame({"customer_id": [1, 2, 3, 2**40, -5]})
    assert ids.select(shard_of("customer_id", 8)).to_series().to_list() == [1, 2, 4, 0, 0]
    many = pl.DataFrame({"customer_id": range(10_000)}).select(shard_of("customer_id", 16)).to_series()
    assert many.min() == 0 and many.max() == 15
    assert many.value_counts().get_column("count").min() > 10_000 / 16 * 0.8  # balanced


def test_sharded_panel_equals_the_whole_panel(sim, tmp_path: Path) -> None:
    whole = build_panel(sim, CFG)
    panel = _sharded(sim, tmp_path)
    got = read_panel(tmp_path)
    # Equal up to the order of float sums in the item totals (shards' sums are added).
    assert_frame_equal(whole.frame, got.select(whole.frame.columns), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    assert [f.as_dict() for f in panel.features] == [f.as_dict() for f in whole.features]
    assert {k: panel.info[k] for k in ("pairs", "rows", "skipped_categories")} == {
        k: whole.info[k] for k in ("pairs", "rows", "skipped_categories")
    }
    # Each consumer's rows live in exactly one shard, the one its id hashes to.
    placed = pl.scan_parquet(tmp_path / "panel" / "**" / PART, hive_partitioning=True).select("customer_id", "shard").unique().collect()
    assert placed.get_column("customer_id").is_unique().all()
    assert (placed.get_column("shard") == placed.select(shard_of("customer_id", 4)).to_series()).all()


def test_rerun_skips_written_shards_and_redoes_changed_ones(sim, tmp_path: Path) -> None:
    _sharded(sim, tmp_path)
    parts = sorted((tmp_path / "panel").glob(f"shard=*/{PART}"))
    written = {p: p.stat().st_mtime_ns for p in parts}
    _sharded(sim, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in parts} == written  # nothing rebuilt
    _sharded(sim, tmp_path, shards=2)  # another layout: every shard rebuilt, stale shard folders gone
    assert sorted(p.parent.name for p in (tmp_path / "panel").glob(f"shard=*/{PART}")) == ["shard=0", "shard=1"]
    assert read_panel(tmp_path).height == build_panel(sim, CFG).frame.height


def test_ray_engine_writes_the_same_shards_as_local(sim, tmp_path: Path, ray_cluster) -> None:
    _sharded(sim, tmp_path / "local")
    _sharded(sim, tmp_path / "ray", engine="ray")
    assert_frame_equal(read_panel(tmp_path / "local"), read_panel(tmp_path / "ray"), check_exact=True)


def test_build_from_lines_written_in_chunks_equals_the_split_of_the_whole(sim, tmp_path: Path) -> None:
    """An export in chunks of consumers, each split into the shards as its own file, builds the same panel."""
    import dataclasses

    from offerwise.features.shards import build_from_lines, split_lines

    tx = sim.transactions
    for name, chunk in (("a", tx.filter(pl.col("customer_id") % 2 == 0)), ("b", tx.filter(pl.col("customer_id") % 2 == 1))):
        split_lines(chunk, tmp_path / "chunks", 4, part=f"{name}.parquet")
    context = dataclasses.replace(sim, transactions=tx.head(0))
    build_from_lines(context, CFG, tmp_path / "chunks", shards=4, runtime=Runtime())
    _sharded(sim, tmp_path / "whole")
    assert_frame_equal(read_panel(tmp_path / "chunks"), read_panel(tmp_path / "whole"), check_exact=False, rel_tol=1e-12)


def test_a_held_panel_is_read_once_and_again_when_its_file_changes(tmp_path: Path) -> None:
    first = pl.DataFrame({"category": ["a", "b"], "customer_id": [1, 2], "item_id": [3, 4], "period": [0, 1], "x": [1.0, 2.0]})
    first.write_parquet(tmp_path / "panel.parquet")
    assert read_panel(tmp_path) is not read_panel(tmp_path)  # outside panel_held every call reads
    with panel_held():
        held = read_panel(tmp_path)
        assert read_panel(tmp_path) is held
        assert read_panel(tmp_path, columns=["x"]).columns == ["x"]  # a subset is read, the whole panel kept
        assert read_panel(tmp_path) is held
        changed = first.with_columns(x=pl.col("x") * 10).vstack(first)
        changed.write_parquet(tmp_path / "panel.parquet")  # a prepare in between writes the file again
        assert_frame_equal(read_panel(tmp_path), changed)
    assert read_panel(tmp_path) is not read_panel(tmp_path)
