"""Data-parallel TCN training on Ray Train (`model.train_workers` > 0).

Ray Train's `TorchTrainer` starts the workers and the process group (gloo on CPUs); each worker
runs the same epochs as a local fit (`TCNModel.train_epochs`) on its share of the pairs, DDP
averages the gradients, and validation losses are summed over the workers, so all take the same
early-stopping decisions. Worker 0 hands back the best checkpoints and the SWA weights; the final
choice and calibration happen here, exactly as after a local fit, and the checkpoint format is the
same (`TCNModel.save`).

Where the data comes from: with `shards` (a sharded prepared panel), worker r reads only its share
of the shard files (`assign_shards`: balanced by pairs) and builds its own slice and tensors with the driver's encoders,
so no worker holds more than its share; otherwise every worker gets the slice's tensors through
Ray's object store (one copy per node) and trains on every n-th pair. Either way, after the epochs
each worker scores its own validation pairs with every candidate weight set and worker 0 gathers
them, so the driver chooses and calibrates without the validation tensors.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import torch

from offerwise import io
from offerwise.config import ModelConfig, RuntimeConfig
from offerwise.model.slices import Slice
from offerwise.model.tcn import TCNModel, Trained, World, own_validation
from offerwise.model.tensors import SequenceTensors
from offerwise.runtime import ensure_ray


class DDPWorld(World):
    """This Ray Train worker's rank and size; DDP for the network, all-reduce for the sums."""

    def __init__(self, *, owns_data: bool = False) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank, self.size, self.owns_data = context.get_world_rank(), context.get_world_size(), owns_data

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        from ray.train.torch import prepare_model

        return prepare_model(net, move_to_device=False)

    def _all_reduce(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def sum(self, value: float) -> float:
        return self._all_reduce([value])[0]

    def mean_bce(self, total: float, count: int) -> float:
        total, count = self._all_reduce([total, float(count)])
        return total / count if count else float("nan")


def assign_shards(shards: list[Path], size: int) -> list[list[Path]]:
    """Shard files per worker, balanced by their pairs (the shard's meta.json, written by the panel
    build; 1 pair where it has none): the largest first, each to the worker with the fewest so
    far. Every DDP step waits for the slowest worker, so equal shares matter more than which."""

    def pairs(f: Path) -> int:
        meta = f.parent / "meta.json"
        return int(io.read_json(meta).get("pairs", 1)) if meta.is_file() else 1

    loads, share = [0] * size, [[] for _ in range(size)]
    for f in sorted(shards, key=lambda f: -pairs(f)):  # stable: equal sizes keep the shard order
        w = loads.index(min(loads))
        share[w].append(f)
        loads[w] += pairs(f)
    return [sorted(s, key=shards.index) for s in share]


def _own_tensors(mine: list[Path], slicer: Callable[[pl.DataFrame], Slice], encoders, rank: int):
    """This worker's slice from its own shard files only: tensors, training and validation masks."""
    from offerwise.model.slices import slice_tensors

    sl = slicer(pl.concat([io.read_parquet(f, rerun=io.rerun("prepare", f.parents[2])) for f in mine]))
    if sl.frame.height == 0:
        raise ValueError(
            f"Ray Train worker {rank}: its shards {[f.parent.name for f in mine]} hold no rows of this slice; use fewer workers."
        )
    t, masks = slice_tensors(sl, encoders)
    return t, masks["train"], masks["validation"]


def _worker(config: dict) -> None:
    import ray
    import ray.train

    torch.set_num_threads(config["threads"])
    model = TCNModel(config=ModelConfig.model_validate(config["model"]), encoders=config["encoders"])
    world = DDPWorld(owns_data="shards" in config)
    if world.owns_data:
        data, train_mask, val_mask = _own_tensors(config["shards"][world.rank], config["slicer"], config["encoders"], world.rank)
    else:
        data, train_mask, val_mask = ray.get(config["inputs"])
    trained = model.train_epochs(data, train_mask, val_mask, progress=False, world=world)
    # Every worker scores its own validation pairs; worker 0 gathers them for the driver's choice.
    own = own_validation(val_mask, train_mask, world)
    scored = (model.validation_predictions(trained, data, own), data.y[own])
    gathered = [None] * world.size if world.rank == 0 else None
    torch.distributed.gather_object(scored, gathered, dst=0)
    metrics = {"epochs": len(trained.history), "val_bce": min(h["val_bce"] for h in trained.history)}
    if world.rank == 0:
        val_p = {name: np.concatenate([p[name] for p, _ in gathered]) for name in gathered[0][0]}
        val_y = np.concatenate([y for _, y in gathered])
        with tempfile.TemporaryDirectory() as folder:
            saved = {"best": trained.best, "swa": trained.swa, "history": trained.history, "val_p": val_p, "val_y": val_y}
            torch.save(saved, Path(folder) / "trained.pt")
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
    else:
        ray.train.report(metrics)


def fit_distributed(
    model: TCNModel,
    data: SequenceTensors,
    train_mask: np.ndarray,
    val_mask: np.ndarray,
    *,
    workers: int,
    storage: Path,
    runtime: RuntimeConfig | None = None,
    shards: list[Path] | None = None,
    slicer: Callable[[pl.DataFrame], Slice] | None = None,
) -> TCNModel:
    """`model.fit` on `workers` Ray Train workers (one CPU each); `storage`: where Ray Train keeps its
    run folder (on a cluster: a path every node sees). With `shards` (the panel's shard files, on a
    path every node sees) and `slicer` (panel rows -> this model's Slice), each worker reads its own
    shards instead of receiving `data`; `data` and the masks are then not sent anywhere."""
    ray = ensure_ray(runtime or RuntimeConfig())
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    config = {
        "model": model.config.model_dump(mode="json"),
        "encoders": model.encoders,
        "threads": model.config.threads or 1,
    }
    if shards and slicer is not None and len(shards) >= workers:  # fewer shards than workers: the tensors go to every worker
        config |= {"shards": assign_shards([f.resolve() for f in shards], workers), "slicer": slicer}  # worker r reads shards[r]
    else:
        config["inputs"] = ray.put((data, train_mask, val_mask))
    storage.mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        _worker,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(storage_path=str(storage.resolve()), name="tcn"),
    )
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        saved = torch.load(Path(folder) / "trained.pt", weights_only=False)
    return model.finish_from(Trained(best=saved["best"], swa=saved["swa"], history=saved["history"]), saved["val_p"], saved["val_y"])
