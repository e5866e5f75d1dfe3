"""The panel built shard by shard: `shard = hash(customer_id) mod N`, hive-partitioned Parquet.

Each consumer's whole history lives in exactly one shard, so every per-consumer and per-pair
feature is computed inside its shard. What needs all consumers (item and category totals: the
leave-one-out offer, popularity, target encodings, category sizes) comes from a first pass whose
per-shard results are small and add up (features/assemble.Totals). Only one shard's dense matrices
are in memory at a time per worker; the engine (offerwise/runtime.py) runs the shards.

Layout under the prepared folder:
    lines/shard=k/part-0.parquet   the transactions of shard k's consumers (source order kept)
    panel/shard=k/part-0.parquet   shard k's panel rows (pair-major, like panel.parquet)
    panel/shard=k/meta.json        what a rerun checks to skip the shard (`key`), and its counts
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import polars.selectors as cs

from offerwise import io
from offerwise.config import PanelConfig
from offerwise.data.schema import RetailData
from offerwise.features.build import (
    Panel,
    PanelPlan,
    category_sizes,
    pair_relevance,
    panel_info,
    plan_panel,
    select_categories,
    shard_lines,
    shard_panel,
)
from offerwise.features.manifest import Feature
from offerwise.features.matrix import Totals
from offerwise.runtime import Runtime

GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: stable across Polars versions, unlike Expr.hash
PART = "part-0.parquet"


def shard_of(column: str, shards: int) -> pl.Expr:
    """hash(customer_id) mod N: the high 32 bits of id * 2^64/phi (wrapping), mod N."""
    mixed = pl.col(column).cast(pl.UInt64, wrap_numerical=True) * pl.lit(GOLDEN, pl.UInt64)
    return ((mixed // 2**32) % shards).cast(pl.Int32)


def shard_dir(root: Path, shard: int) -> Path:
    return root / f"shard={shard}"


def split_lines(transactions: pl.DataFrame, out: Path, shards: int, *, part: str | None = None) -> list[int]:
    """Write each shard's transactions to out/lines/shard=k/ (none left of an earlier layout);
    returns the non-empty shard numbers. With `part`, add them as that file of each shard instead
    (e.g. one export chunk of consumers after another), keeping what is there."""
    if part is None:
        shutil.rmtree(out / "lines", ignore_errors=True)
    parts = transactions.with_columns(shard=shard_of("customer_id", shards)).partition_by("shard", as_dict=True, include_key=False)
    for (k,), frame in parts.items():
        io.write_parquet(frame, shard_dir(out / "lines", k) / (part or PART))
    return sorted(k for (k,) in parts)


def _lines(out: Path, shard: int) -> pl.DataFrame:
    """Shard k's lines: every Parquet file of lines/shard=k/, in name order (a consumer's lines in one file)."""
    return pl.read_parquet(sorted(shard_dir(out / "lines", shard).glob("*.parquet")))


def written_shards(out: Path) -> list[int]:
    return sorted(int(d.name.split("=")[1]) for d in (out / "lines").glob("shard=*") if any(d.glob("*.parquet")))


def shard_totals(shard: int, *, out: Path, items: pl.DataFrame, plan: PanelPlan) -> tuple[Totals, pl.DataFrame, int]:
    """First pass, one shard: its totals, its relevant pairs per category, its lines outside the periods."""
    tx, _, outside = shard_lines(_lines(out, shard), items, plan)
    return Totals.of(tx), category_sizes(pair_relevance(tx, plan)), outside


def shard_build(
    shard: int,
    *,
    out: Path,
    context: RetailData,
    plan: PanelPlan,
    categories: list[str],
    totals: Totals,
    offer_history: pl.DataFrame | None,
    key: str,
) -> dict:
    """Second pass, one shard: its panel rows to out/panel/shard=k/. Skipped when meta.json holds
    the same key (`key`: config, totals, offer history; plus the shard's own lines). Returns the
    meta: rows, pairs, features."""
    folder = shard_dir(out / "panel", shard)
    meta_path = folder / "meta.json"
    lines = _lines(out, shard)
    key = f"{key}-{lines.hash_rows(seed=0).sum()}"
    if meta_path.is_file() and (meta := io.read_json(meta_path)).get("key") == key:
        return meta
    tx, items, _ = shard_lines(lines, context.items, plan)
    frame, features = shard_panel(tx, items, context, plan, categories, totals, offer_history=offer_history)
    (folder / PART).unlink(missing_ok=True)
    if frame.height:
        io.write_parquet(frame, folder / PART)
    meta = {
        "key": key,
        "shard": shard,
        "rows": frame.height,
        "pairs": frame.select("customer_id", "item_id").n_unique() if frame.height else 0,
        "features": [f.as_dict() for f in features],
    }
    io.write_json(meta, meta_path)
    return meta


def build_panel_shards(
    data: RetailData, cfg: PanelConfig, out: Path, *, shards: int, runtime: Runtime, offer_history: pl.DataFrame | None = None
) -> Panel:
    """The sharded build of features/build.build_panel: the same rows and values (up to the order
    of float sums in the totals), written to out/panel/shard=k/. The returned Panel's frame is
    empty (the rows stay on disk): read them with `read_panel`."""
    split_lines(data.transactions, out, shards)
    return build_from_lines(
        dataclasses.replace(data, transactions=data.transactions.head(0)),
        cfg,
        out,
        shards=shards,
        runtime=runtime,
        offer_history=offer_history,
    )


def build_from_lines(
    context: RetailData, cfg: PanelConfig, out: Path, *, shards: int, runtime: Runtime, offer_history: pl.DataFrame | None = None
) -> Panel:
    """The sharded build from transactions already split into out/lines/shard=k/ (canonical columns,
    by `shard_of(customer_id, shards)`): the driver never holds them all. `context` gives items,
    customers, promotions and campaigns; its transactions are not read."""
    lines = pl.scan_parquet(out / "lines" / "**" / "*.parquet", hive_partitioning=True)
    plan = plan_panel(lines.select("customer_id", "timestamp"), cfg)
    present = written_shards(out)
    first = runtime.map(shard_totals, present, shared={"out": out, "items": context.items, "plan": plan}, what="panel totals")
    totals = Totals.combine([t for t, _, _ in first])
    categories, skipped = select_categories(pl.concat([sizes for _, sizes, _ in first]), cfg)
    key = _key(cfg, plan, categories, totals, offer_history)
    shared = {
        "out": out,
        "context": context,
        "plan": plan,
        "categories": categories,
        "totals": totals,
        "offer_history": offer_history,
        "key": key,
    }
    metas = runtime.map(shard_build, present, shared=shared, what="panel shards")
    for stale in sorted((out / "panel").glob("shard=*")):  # shards of an earlier, larger N
        if int(stale.name.split("=")[1]) not in present:
            for f in stale.iterdir():
                f.unlink()
            stale.rmdir()
    pairs, rows = sum(m["pairs"] for m in metas), sum(m["rows"] for m in metas)
    info = panel_info(plan, sum(o for _, _, o in first), pairs, rows, skipped, offer_history)
    info["shards"] = {"count": shards, "non_empty": len([m for m in metas if m["rows"]]), "by": "hash(customer_id) mod N"}
    return Panel(frame=pl.DataFrame(), features=_merged_features(metas), splits=plan.splits, info=info)


def _merged_features(metas: list[dict]) -> list[Feature]:
    """One manifest for all shards. A feature's text says how undefined values are filled only in
    shards that had some, so the longest text per feature is the whole story."""
    texts: dict[str, dict] = {}
    for meta in metas:
        for f in meta["features"]:
            if f["name"] not in texts or len(f["how"]) > len(texts[f["name"]]["how"]):
                texts[f["name"]] = f
    return [Feature(**f) for f in texts.values()]


def _key(cfg: PanelConfig, plan: PanelPlan, categories: list[str], totals: Totals, offer_history) -> str:
    """What a shard's panel depends on besides its own lines."""
    h = hashlib.sha256()
    h.update(json.dumps([cfg.model_dump(mode="json"), plan.n_complete, categories], default=str).encode())
    for frame in (totals.items, totals.categories, offer_history):
        if frame is not None:  # floats to 10 significant digits: a parallel sum may differ in its last bits from run to run
            h.update(str(frame.with_columns(cs.float().round_sig_figs(10)).hash_rows(seed=0).sum()).encode())
    return h.hexdigest()[:16]


def panel_parts(prepared: Path) -> list[Path]:
    """The shards' panel files of a prepared folder, in shard order; [] when the panel is one file."""
    return sorted((prepared / "panel").glob(f"shard=*/{PART}"), key=lambda f: int(f.parent.name.split("=")[1]))


_held: dict[tuple, pl.DataFrame] | None = None  # inside `panel_held`: the whole panel last read, by its files' identity


@contextmanager
def panel_held() -> Iterator[None]:
    """Inside it, `read_panel` keeps the whole panel it last read and gives it again while its files
    are unchanged: a run's stages each read the same panel (8 reads of ~1.2 s on the Complete
    Journey). Polars frames are immutable, so the stages share it safely."""
    global _held
    outer, _held = _held, {} if _held is None else _held
    try:
        yield
    finally:
        _held = outer


def _files_identity(prepared: Path) -> tuple:
    files = [prepared / "panel.parquet"] if (prepared / "panel.parquet").is_file() else panel_parts(prepared)
    stats = [(f, f.stat()) for f in files]
    return tuple((str(f.resolve()), st.st_ino, st.st_mtime_ns, st.st_size) for f, st in stats)


def read_panel(prepared: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """The prepared panel, whichever layout: panel.parquet, or panel/shard=k/ in the same row order
    (category, customer, item, period)."""
    if _held is None or columns is not None:
        return _read_panel(prepared, columns)
    identity = _files_identity(prepared)
    if identity not in _held:
        _held.clear()
        _held[identity] = _read_panel(prepared, None)
    return _held[identity]


def _read_panel(prepared: Path, columns: list[str] | None) -> pl.DataFrame:
    single = prepared / "panel.parquet"
    if single.is_file():
        return pl.read_parquet(single, columns=columns)
    scan = pl.scan_parquet(prepared / "panel" / "**" / PART, hive_partitioning=True).drop("shard")
    if columns is not None:
        scan = scan.select(columns)
    order = [c for c in ("category", "customer_id", "item_id", "period") if columns is None or c in columns]
    return scan.collect().sort(order, maintain_order=True) if order else scan.collect()
