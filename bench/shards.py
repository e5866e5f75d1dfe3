"""Benchmarks of the sharded pipeline (#13). Each measurement runs in a fresh subprocess, so its
peak RSS (ru_maxrss) is its own; figures go to bench/results/shards.json (merged by section).

    python bench/shards.py rss [--consumers 25000 200000] [--per-shard 6250]   (other shard sizes: their own section)
        Peak RSS of the sharded panel build against data size at a fixed shard size. The data:
        simulator "stores" of 25,000 consumers each (seed 100 + k; customer and item ids offset per
        store, so 200,000 consumers = 8 stores with 8 x 240 items), written once as canonical lines
        already split by hash(customer_id) mod N (the shard contract). The measured process plans,
        runs the totals pass and builds every shard (local engine: one shard at a time).
    python bench/shards.py speedup --run <folder>
        Throughput of engine "ray" with 1 and with 2 CPUs for the panel build and the scoring of a
        sharded run folder (offerwise run --shards N ...), the same shards each time.
    python bench/shards.py engines [--data simulated complete-journey]
        `offerwise run --data D --quick` with `--shards 4` on engine local and on engine ray (a local
        cluster of this machine's CPUs), and with one panel file: the largest differences in the
        forward plan's probabilities and each category's objective (expected revenue after), and
        whether every recommended offer is the same.
    python bench/shards.py ddp --run <folder> [--epochs 1]
        TCN training of the run's first fold (its model's slice): Ray Train with 1 and with 2 DDP
        workers (one thread each), handed the slice's tensors and, for a sharded run, reading their
        own shards; the local fit with 1 and 2 threads for comparison; seconds of the training epochs
        (the workers' own timing) and of the whole call (with Ray Train's start).
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "shards.json"
STORE = 25_000
ID_OFFSET = 10_000_000  # customer ids of store k start at k * ID_OFFSET; item ids at k * ITEM_OFFSET
ITEM_OFFSET = 1_000_000


def _peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)


def write_store(k: int, folder: Path, shards: int) -> dict:
    """One simulated store, loaded and cleaned like any data folder, appended to the shards."""
    import polars as pl

    from offerwise.config import SimulationConfig
    from offerwise.data.load import load_data
    from offerwise.data.simulate import simulate
    from offerwise.data.simulate_frames import write_simulation
    from offerwise.features.shards import split_lines

    cfg = SimulationConfig(customers=STORE, seed=100 + k)
    with tempfile.TemporaryDirectory() as tmp:
        write_simulation(simulate(cfg), Path(tmp), cfg)
        data = load_data(tmp)
    cust, item = pl.col("customer_id") + k * ID_OFFSET, pl.col("item_id") + k * ITEM_OFFSET
    split_lines(data.transactions.with_columns(cust, item), folder, shards, part=f"store-{k:03d}.parquet")
    (folder / "items").mkdir(exist_ok=True)
    (folder / "customers").mkdir(exist_ok=True)
    data.items.with_columns(item).write_parquet(folder / "items" / f"store-{k:03d}.parquet")
    data.customers.with_columns(cust).write_parquet(folder / "customers" / f"store-{k:03d}.parquet")
    return {"store": k, "lines": data.transactions.height}


def build(folder: Path, shards: int) -> dict:
    import polars as pl

    from offerwise.config import PanelConfig
    from offerwise.data.schema import TRANSACTION_SCHEMA, LoadReport, RetailData
    from offerwise.features.shards import build_from_lines
    from offerwise.runtime import Runtime

    context = RetailData(
        transactions=pl.DataFrame(schema=TRANSACTION_SCHEMA),
        items=pl.read_parquet(sorted((folder / "items").glob("*.parquet"))),
        customers=pl.read_parquet(sorted((folder / "customers").glob("*.parquet"))),
        report=LoadReport("bench"),
    )
    start = time.perf_counter()
    panel = build_from_lines(context, PanelConfig(), folder, shards=shards, runtime=Runtime())
    return {
        "consumers": context.customers.height,
        "shards": shards,
        "pairs": panel.info["pairs"],
        "rows": panel.info["rows"],
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": _peak_gb(),
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "child", *args], capture_output=True, text=True)
    if out.returncode != 0:  # e.g. killed for memory: report it, don't hide it
        return {"failed": f"exit code {out.returncode}", "stderr_tail": out.stderr[-800:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss(consumers: list[int], per_shard: int) -> list[dict]:
    results = []
    for n in consumers:
        stores, shards = max(1, n // STORE), max(1, n // per_shard)
        with tempfile.TemporaryDirectory() as tmp:
            lines = sum(_child("store", str(k), tmp, str(shards)).get("lines", 0) for k in range(stores))
            result = {"lines": lines, **_child("build", tmp, str(shards))}
        print(f"{n:,} consumers, {shards} shards: {result}", flush=True)
        results.append(result)
    ok = [r for r in results if "peak_rss_gb" in r]
    if len(ok) >= 2:
        print(f"peak RSS ratio largest / smallest: {ok[-1]['peak_rss_gb'] / ok[0]['peak_rss_gb']:.2f} (target <= 1.3)")
    return results


def _warm(shard: int) -> int:
    return shard


def speedup_child(run: Path, cpus: int) -> dict:
    """Panel build and scoring of `run`'s sharded panel on a local Ray cluster of `cpus` CPUs."""
    import shutil

    from offerwise.config import Config, RuntimeConfig
    from offerwise.data.load import load_data
    from offerwise.features.shards import build_from_lines
    from offerwise.pipeline import evaluate
    from offerwise.runtime import Runtime

    cfg = Config.model_validate_json((run / "prepared" / "config.json").read_text())
    runtime = RuntimeConfig(engine="ray", shards=cfg.runtime.shards, workers=cpus)
    Runtime(runtime).map(_warm, [0])  # start the cluster outside the timings
    data = load_data("complete-journey")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(run / "prepared" / "lines", Path(tmp) / "lines")
        start = time.perf_counter()
        build_from_lines(data, cfg.panel, Path(tmp), shards=cfg.runtime.shards, runtime=Runtime(runtime))
        build_seconds = time.perf_counter() - start
        start = time.perf_counter()
        evaluate(run / "prepared", run / "models", Path(tmp) / "evaluation", runtime=runtime)
        score_seconds = time.perf_counter() - start
    return {"cpus": cpus, "shards": cfg.runtime.shards, "build_seconds": round(build_seconds, 1), "score_seconds": round(score_seconds, 1)}


def speedup(run: Path) -> dict:
    one, two = _child("speedup", str(run), "1"), _child("speedup", str(run), "2")
    result = {"one_cpu": one, "two_cpus": two}
    if "build_seconds" in one and "build_seconds" in two:
        result["build_speedup"] = round(one["build_seconds"] / two["build_seconds"], 2)
        result["score_speedup"] = round(one["score_seconds"] / two["score_seconds"], 2)
    print(json.dumps(result, indent=2))
    return result


def ddp(run: Path, epochs: int) -> dict:
    import polars as pl
    import ray

    from offerwise.features.shards import panel_parts
    from offerwise.model.distributed import fit_distributed
    from offerwise.model.slices import make_slice, slice_tensors
    from offerwise.model.tcn import TCNModel
    from offerwise.model.tensors import Encoders
    from offerwise.pipeline import read_prepared, training_entries

    p = read_prepared(run / "prepared")
    entry = training_entries(run / "models")[0]
    slicer = functools.partial(
        make_slice,
        splits=p.splits,
        fold=entry["fold"],
        category=entry["category"],
        status_quo=p.status_quo_of(entry["fold"]),
        validation_as_decided=True,
        validation_sq=p.validation_sq_of(entry["fold"]),
    )
    sl = slicer(p.frame)
    enc = Encoders.fit(sl.frame, p.features, pl.col("period").is_in(sl.train_periods))
    t, m = slice_tensors(sl, enc)
    base = TCNModel.load(run / "models" / entry["dir"] / "tcn.pt").config.model_copy(update={"epochs": epochs, "patience": epochs})
    pair_periods = int(m["train"].sum()) * epochs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = {
        "slice": f"fold {entry['fold']} {entry['category']}",
        "train_pair_periods_per_epoch": int(m["train"].sum()),
        "epochs": epochs,
    }
    for threads in (1, 2):
        start = time.perf_counter()
        model = TCNModel(config=base.model_copy(update={"threads": threads}), encoders=enc).fit(
            t, m["train"], m["validation"], progress=False
        )
        epoch_s = sum(h["train_seconds"] for h in model.history_)
        results[f"local_{threads}_threads"] = {"epoch_seconds": round(epoch_s, 1), "call_seconds": round(time.perf_counter() - start, 1)}
    runs = [(1, "ray_train_1_workers", None), (2, "ray_train_2_workers", None)]
    if shards := panel_parts(run / "prepared"):  # each worker reads its own shards
        runs += [(1, "ray_train_1_workers_own_shards", shards), (2, "ray_train_2_workers_own_shards", shards)]
    for workers, name, own in runs:
        start = time.perf_counter()
        cfg = base.model_copy(update={"threads": 1})
        with tempfile.TemporaryDirectory() as storage:
            model = fit_distributed(
                TCNModel(config=cfg, encoders=enc),
                t,
                m["train"],
                m["validation"],
                workers=workers,
                storage=Path(storage),
                shards=own,
                slicer=slicer,
            )
        epoch_s = sum(h["train_seconds"] for h in model.history_)
        results[name] = {
            "epoch_seconds": round(epoch_s, 1),
            "call_seconds": round(time.perf_counter() - start, 1),
            "pair_periods_per_second": round(pair_periods / epoch_s),
            "validation_bce": round(min(h["val_bce"] for h in model.history_), 4),
        }
    one, two = results["ray_train_1_workers"], results["ray_train_2_workers"]
    results["ddp_speedup_epochs"] = round(one["epoch_seconds"] / two["epoch_seconds"], 2)
    results["ddp_speedup_calls"] = round(one["call_seconds"] / two["call_seconds"], 2)
    if shards:
        one, two = results["ray_train_1_workers_own_shards"], results["ray_train_2_workers_own_shards"]
        results["ddp_own_shards_speedup_epochs"] = round(one["epoch_seconds"] / two["epoch_seconds"], 2)
        results["ddp_own_shards_speedup_calls"] = round(one["call_seconds"] / two["call_seconds"], 2)
    print(json.dumps(results, indent=2))
    return results


def _compare(a_run: Path, b_run: Path) -> dict:
    """The largest differences between two runs' forward plans (recommendations/offers.parquet, full
    precision): probabilities, and each category's objective (expected net revenue of the offers)."""
    import polars as pl

    a, b = (pl.read_parquet(r / "recommendations" / "offers.parquet").sort("customer_id", "item_id") for r in (a_run, b_run))
    objective = [
        f.group_by("category").agg(pl.col("expected_revenue_recommended").sum()).sort("category").get_column("expected_revenue_recommended")
        for f in (a, b)
    ]
    return {
        "offers": a.height,
        "same_pairs": a.select("customer_id", "item_id").equals(b.select("customer_id", "item_id")),
        "same_recommended_offers": a.get_column("recommended_offer_pct").equals(b.get_column("recommended_offer_pct")),
        "differing_offers": int((a.get_column("recommended_offer_pct") != b.get_column("recommended_offer_pct")).sum()),
        "max_abs_probability_difference": max(float((a[c] - b[c]).abs().max()) for c in ("p_reference", "p_recommended")),
        "max_rel_objective_difference": float(((objective[0] - objective[1]).abs() / objective[0].abs()).max()),
    }


def engines(datasets: list[str]) -> dict:
    """Engine ray against engine local on the same 4 shards (the engine is the only difference),
    and the 4 shards against one panel file (what sharding itself changes: float sums in the totals)."""
    runs = {
        "local_1_file": ["--engine", "local"],
        "local_4_shards": ["--shards", "4"],
        "ray_4_shards": ["--shards", "4", "--engine", "ray"],
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for data in datasets:
            seconds = {}
            for name, flags in runs.items():
                start = time.perf_counter()
                cmd = [
                    str(Path(sys.executable).parent / "offerwise"),
                    "run",
                    "--data",
                    data,
                    "--quick",
                    "--out",
                    f"{tmp}/{data}-{name}",
                    *flags,
                ]
                subprocess.run(cmd, check=True, capture_output=True)
                seconds[name] = round(time.perf_counter() - start, 1)
            folder = lambda name: Path(tmp) / f"{data}-{name}"  # noqa: E731
            results[data] = {
                "ray_vs_local_same_shards": _compare(folder("local_4_shards"), folder("ray_4_shards")),
                "4_shards_vs_1_file": _compare(folder("local_1_file"), folder("local_4_shards")),
                "seconds": seconds,
            }
            print(data, json.dumps(results[data], indent=1), flush=True)
    return results


def _save(section: str, value) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[section] = value
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS} [{section}]")


def main(argv: list[str]) -> None:
    if argv and argv[0] == "child":
        kind, rest = argv[1], argv[2:]
        if kind == "store":
            print(json.dumps(write_store(int(rest[0]), Path(rest[1]), int(rest[2]))))
        elif kind == "build":
            print(json.dumps(build(Path(rest[0]), int(rest[1]))))
        else:
            print(json.dumps(speedup_child(Path(rest[0]), int(rest[1]))))
        return
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["rss", "speedup", "ddp", "engines"])
    parser.add_argument("--data", nargs="+", default=["simulated", "complete-journey"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--consumers", type=int, nargs="+", default=[25_000, 200_000])
    parser.add_argument("--per-shard", type=int, default=6_250)
    parser.add_argument("--run", type=Path, help="a sharded run folder (speedup)")
    args = parser.parse_args(argv)
    if args.what == "rss":
        _save("rss" if args.per_shard == 6_250 else f"rss_{args.per_shard}_per_shard", rss(args.consumers, args.per_shard))
    elif args.what == "speedup":
        _save("speedup", speedup(args.run))
    elif args.what == "engines":  # merged by data set: a run of one data set keeps the other's figures
        previous = json.loads(RESULTS.read_text()).get("engines", {}) if RESULTS.is_file() else {}
        _save("engines", {**previous, **engines(args.data)})
    else:
        _save("ddp", ddp(args.run, args.epochs))


if __name__ == "__main__":
    main(sys.argv[1:])
