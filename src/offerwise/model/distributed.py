"""Data-parallel TCN training on Ray Train (`model.train_workers` > 0).

Ray Train's `TorchTrainer` starts the workers and the process group (gloo on CPUs); each worker
runs the same epochs as a local fit (`TCNModel.train_epochs`) on its share of the pairs, DDP
averages the gradients, and validation losses are summed over the workers, so all take the same
early-stopping decisions. Worker 0 hands back the best checkpoints and the SWA weights; the final
choice and calibration happen here, exactly as after a local fit, and the checkpoint format is the
same (`TCNModel.save`).

Every worker receives the slice's tensors through Ray's object store (one copy per node); it does
not yet read only its own shards.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from offerwise.config import ModelConfig, RuntimeConfig
from offerwise.model.tcn import TCNModel, Trained, World
from offerwise.model.tensors import SequenceTensors
from offerwise.runtime import ensure_ray


class DDPWorld(World):
    """This Ray Train worker's rank and size; DDP for the network, all-reduce for the sums."""

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank, self.size = context.get_world_rank(), context.get_world_size()

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


def _worker(config: dict) -> None:
    import ray
    import ray.train

    torch.set_num_threads(config["threads"])
    data, train_mask, val_mask = ray.get(config["inputs"])
    model = TCNModel(config=ModelConfig.model_validate(config["model"]), encoders=config["encoders"])
    world = DDPWorld()
    trained = model.train_epochs(data, train_mask, val_mask, progress=False, world=world)
    metrics = {"epochs": len(trained.history), "val_bce": min(h["val_bce"] for h in trained.history)}
    if world.rank == 0:
        with tempfile.TemporaryDirectory() as folder:
            torch.save({"best": trained.best, "swa": trained.swa, "history": trained.history}, Path(folder) / "trained.pt")
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
) -> TCNModel:
    """`model.fit` on `workers` Ray Train workers (one CPU each); `storage`: where Ray Train keeps its
    run folder (on a cluster: a path every node sees)."""
    ray = ensure_ray(runtime or RuntimeConfig())
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    config = {
        "model": model.config.model_dump(mode="json"),
        "encoders": model.encoders,
        "inputs": ray.put((data, train_mask, val_mask)),
        "threads": model.config.threads or 1,
    }
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
    return model.finish(Trained(best=saved["best"], swa=saved["swa"], history=saved["history"]), data, val_mask)
