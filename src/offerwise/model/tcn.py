"""The public purchase model: fit / predict_proba around the TCN network, with the paper's recipe.

Recipe (paper §3.1.4): Adam or RMSprop (lr 1e-3, weight decay 1e-5); CyclicLR (1e-6 .. 1e-3, step
size from the loader length) or ReduceLROnPlateau (min lr 1e-6); early stopping on validation BCE;
SWA over the last epochs; the n best checkpoints averaged, weighted by validation loss. The final
weights are whichever of {best checkpoint, checkpoint average, SWA} has the lowest validation BCE.
"""

from __future__ import annotations

import copy
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import brentq
from torch.optim.swa_utils import SWALR, AveragedModel
from tqdm.auto import tqdm

from offerwise.columns import OFFER  # the period's own offer: the input counterfactual curves vary
from offerwise.config import ModelConfig
from offerwise.model.metrics import bce
from offerwise.model.network import NetworkShape, TCNNetwork
from offerwise.model.scoring import SCORING_BATCH, Variants, column_probabilities, masked_probabilities, offer_variants
from offerwise.model.tensors import Encoders, SequenceTensors
from offerwise.probability import clipped_logit, expit


def _device(cfg: ModelConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def batch_inputs(t: SequenceTensors, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a[idx]).to(device) for a in (t.tc, t.tcat, t.sc, t.scat))


def _bce(p: np.ndarray, y: np.ndarray) -> float:
    return bce(y, p) if y.size else float("nan")


def masked_bce(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1)


@dataclass
class Trained:
    """What the epochs leave for the final choice: the best checkpoints (validation BCE, weights),
    the SWA weights (None without SWA), the per-epoch history."""

    best: list[tuple[float, dict]]
    swa: dict | None
    history: list[dict[str, float]]
    # (weights, validation probabilities) of `best`'s epochs, as they scored them
    scored: list[tuple[dict, np.ndarray]] = field(default_factory=list)


class World:
    """One process training on every pair (the default); model/distributed.py's DDP world
    overrides the rank, the size and the three methods. `owns_data`: each worker was handed only its
    own pairs (read from its own shards), not every pair to take its share of."""

    rank, size, owns_data = 0, 1, False

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        return net

    def sum(self, value: float) -> float:
        return value

    def mean_bce(self, total: float, count: int) -> float:
        return total / count if count else float("nan")

    def share(self, rows: np.ndarray) -> np.ndarray:
        """The rows (pair indices) this worker trains and validates on: all of them when it owns
        its data, else every size-th from its rank."""
        return rows if self.owns_data else rows[self.rank :: self.size]


def own_validation(val_mask: np.ndarray, train_mask: np.ndarray, world: World) -> np.ndarray:
    """The validation targets this worker scores: those of its share of the training pairs."""
    if world.size == 1 or world.owns_data:
        return val_mask
    mine = world.share(np.flatnonzero(train_mask.any(axis=1)))
    return val_mask & np.isin(np.arange(val_mask.shape[0]), mine)[:, None]


def _candidates(trained: Trained) -> dict[str, dict]:
    """The final weights to choose from: best checkpoint, the best checkpoints averaged (weighted by
    1 / validation BCE), and SWA when it ran."""
    best = trained.best
    weights = np.array([1.0 / max(loss, 1e-9) for loss, _ in best])
    weights /= weights.sum()
    candidates = {
        "best_checkpoint": best[0][1],
        "checkpoint_average": {k: sum(w * sd[k].float() for w, (_, sd) in zip(weights, best)).to(best[0][1][k].dtype) for k in best[0][1]},
    }
    if trained.swa is not None:
        candidates["swa"] = trained.swa
    return candidates


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


class TCNModel:
    """Entity embeddings + TCN + FC head, trained sequence-to-sequence on all pairs of a category."""

    def __init__(self, *, config: ModelConfig = ModelConfig(), encoders: Encoders) -> None:
        self.config = config
        self.encoders = encoders

    def build_network(self) -> TCNNetwork:
        enc, cfg = self.encoders, self.config
        self.shape_ = NetworkShape(
            temporal_continuous=len(enc.temporal_continuous),
            static_continuous=len(enc.static_continuous),
            temporal_cardinalities=enc.cardinalities(enc.temporal_categorical),
            static_cardinalities=enc.cardinalities(enc.static_categorical),
            offer_index=enc.temporal_continuous.index(OFFER) if OFFER in enc.temporal_continuous else None,
        )
        return TCNNetwork(
            self.shape_,
            channels=cfg.channels,
            dilations=tuple(cfg.dilations),
            kernel_size=cfg.kernel_size,
            dropout=cfg.dropout,
            use_weight_norm=cfg.weight_norm,
            hidden=tuple(cfg.hidden),
            max_embedding=cfg.max_embedding,
            offer_term=cfg.offer_term,
        )

    def fit(self, data: SequenceTensors, train_mask: np.ndarray, val_mask: np.ndarray, *, progress: bool = True) -> TCNModel:
        """train_mask / val_mask: (P, T) booleans of the periods whose targets count in each loss."""
        return self.finish(self.train_epochs(data, train_mask, val_mask, progress=progress), data, val_mask)

    def train_epochs(
        self, data: SequenceTensors, train_mask: np.ndarray, val_mask: np.ndarray, *, progress: bool = True, world: World | None = None
    ) -> Trained:
        """The recipe's epochs: what `finish` chooses from. `world`: this process's place among
        data-parallel workers (model/distributed.py): it trains on its share of the pairs, its
        gradients are averaged by DDP, and the validation loss is summed over all workers, so every
        worker takes the same early-stopping decisions. Default: one process, all pairs."""
        world = world or World()
        cfg = self.config
        torch.manual_seed(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = _device(self.config)
        module = self.build_network()
        rate = float(np.clip(data.y[train_mask].mean(), 1e-4, 1 - 1e-4))
        with torch.no_grad():  # start at the base rate, not at 0.5: the first epochs then learn structure
            module.head[-1].bias.fill_(float(np.log(rate / (1 - rate))))
        module = module.to(device)
        net = world.wrap(module)
        opt = self._optimizer(module)
        rows = np.flatnonzero(train_mask.any(axis=1))
        mine = world.share(rows)
        n_rows = int(world.sum(rows.size)) if world.owns_data else rows.size  # training pairs over all workers
        repeats = max(int(np.ceil(cfg.min_batches_per_epoch * cfg.batch_size / max(n_rows, 1))), 1)
        n_batches = max(int(np.ceil(n_rows * repeats / cfg.batch_size / world.size)), 1)  # the same on every worker
        sched = self._scheduler(opt, n_batches)
        swa_model, swa_sched = (AveragedModel(module), SWALR(opt, swa_lr=self._swa_rates(opt))) if cfg.swa else (None, None)
        swa_from = int(cfg.swa_start * cfg.epochs)
        rng = np.random.default_rng(cfg.seed)
        unknown_rng = torch.Generator().manual_seed(cfg.seed + world.rank)
        y, tmask = torch.from_numpy(data.y).to(device), torch.from_numpy(train_mask.astype(np.float32)).to(device)
        val_mask = own_validation(val_mask, train_mask, world)
        best: list[tuple[float, dict]] = []
        scored: list[tuple[dict, np.ndarray]] = []
        history: list[dict[str, float]] = []
        bar = tqdm(range(cfg.epochs), desc="train", disable=None if progress and world.rank == 0 else True, leave=False)
        for epoch in bar:
            net.train()
            total, started = 0.0, time.perf_counter()
            order = np.concatenate([rng.permutation(mine) for _ in range(repeats)])
            for idx in np.array_split(order, n_batches):
                tc, tcat, sc, scat = batch_inputs(data, idx, device)
                if cfg.unknown_level_dropout > 0:
                    tcat = tcat.masked_fill(torch.rand(tcat.shape, generator=unknown_rng).to(device) < cfg.unknown_level_dropout, 0)
                loss = masked_bce(net(tc, tcat, sc, scat), y[idx], tmask[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                if cfg.scheduler == "cyclic" and (swa_sched is None or epoch < swa_from):
                    sched.step()
                total += loss.item() * idx.size / repeats
            train_seconds = time.perf_counter() - started
            val_p = masked_probabilities(module, data, val_mask, device) if world.size == 1 else None
            val = _bce(val_p, data.y[val_mask]) if val_p is not None else world.mean_bce(*self._loss_sum(module, data, val_mask, device))
            total = total if world.size == 1 else world.sum(total)
            history.append(
                {
                    "epoch": epoch,
                    "train_bce": total / n_rows,
                    "val_bce": val,
                    "train_seconds": train_seconds,
                    "seconds": time.perf_counter() - started,
                }
            )
            bar.set_postfix(loss=f"{total / n_rows:.4f}", val_bce=f"{val:.4f}")
            if swa_model is not None and epoch >= swa_from:
                swa_model.update_parameters(module)
                swa_sched.step()
            elif cfg.scheduler == "plateau":
                sched.step(val)
            state = copy.deepcopy(module.state_dict())
            best = sorted(best + [(val, state)], key=lambda b: b[0])[: cfg.average_best]
            if val_p is not None and device.type == "cpu":  # finish scores its candidates on the CPU
                scored = [(s, p) for s, p in scored + [(state, val_p)] if any(s is kept for _, kept in best)]
            if epoch - min(range(len(history)), key=lambda i: history[i]["val_bce"]) >= cfg.patience:
                break
        swa = swa_model.module.state_dict() if swa_model is not None and swa_model.n_averaged.item() > 0 else None
        return Trained(best=best, swa=swa, history=history, scored=scored)

    def _swa_rates(self, opt: torch.optim.Optimizer) -> list[float]:
        """SWALR's learning rate per parameter group: swa_lr, scaled like the group's own rate."""
        return [self.config.swa_lr * g["lr"] / self.config.lr for g in opt.param_groups]

    def _optimizer(self, module: torch.nn.Module) -> torch.optim.Optimizer:
        """Adam or RMSprop; the offer term at its own learning rate (offer_lr_multiplier)."""
        cfg = self.config
        opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.RMSprop
        offer = [p for name, p in module.named_parameters() if name.startswith("offer_slope")]
        rest = [p for name, p in module.named_parameters() if not name.startswith("offer_slope")]
        groups = [{"params": rest}] + ([{"params": offer, "lr": cfg.lr * cfg.offer_lr_multiplier}] if offer else [])
        # foreach: one kernel call per step for all parameters, not one per parameter (the same arithmetic
        # in the same order, bitwise the same weights; the CPU's default is the per-parameter loop)
        return opt_cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)

    def finish(self, trained: Trained, data: SequenceTensors, val_mask: np.ndarray) -> TCNModel:
        """Choose the final weights (best checkpoint, checkpoint average or SWA) on validation and calibrate."""
        return self.finish_from(trained, self.validation_predictions(trained, data, val_mask), data.y[val_mask])

    def validation_predictions(self, trained: Trained, data: SequenceTensors, val_mask: np.ndarray) -> dict[str, np.ndarray]:
        """Each candidate's validation probabilities (flattened like data.y[val_mask])."""
        net = self.build_network()
        out = {}
        for name, state in _candidates(trained).items():
            known = [p for weights, p in trained.scored if _same_weights(weights, state)]
            if known:  # an epoch's own weights (the best checkpoint; SWA or the average of one epoch): scored by that epoch
                out[name] = known[0]
                continue
            net.load_state_dict(state)
            out[name] = masked_probabilities(net, data, val_mask, torch.device("cpu"))
        return out

    def finish_from(self, trained: Trained, val_p: dict[str, np.ndarray], val_y: np.ndarray) -> TCNModel:
        """`finish` from the candidates' validation probabilities and labels (e.g. gathered from
        data-parallel workers): keep the lowest-BCE candidate, then recalibrate its intercept."""
        self.history_ = trained.history
        self.selection_ = {name: _bce(p, val_y) for name, p in val_p.items()}
        self.chosen_ = min(self.selection_, key=self.selection_.get)
        net = self.build_network()
        net.load_state_dict(_candidates(trained)[self.chosen_])
        self.network_ = net.cpu().eval()
        self.calibration_shift_ = self._calibrate(val_p[self.chosen_], val_y) if self.config.calibrate == "intercept" else 0.0
        return self

    @torch.no_grad()
    def _calibrate(self, val_p: np.ndarray, val_y: np.ndarray) -> float:
        """Shift the output logit so validation probabilities average the validation purchase rate.

        The maximum-likelihood intercept-only recalibration: it keeps every ranking (AUC, F1 cut-offs)
        and every offer slope, and removes the average over- or under-prediction.
        """
        if val_y.size == 0 or val_y.min() == val_y.max():
            return 0.0
        z, rate = clipped_logit(val_p), float(val_y.mean())
        shift = brentq(lambda a: float(np.mean(expit(z + a))) - rate, -10.0, 10.0)
        self.network_.head[-1].bias += float(shift)
        return float(shift)

    def _scheduler(self, opt: torch.optim.Optimizer, n_batches: int):
        cfg = self.config
        if cfg.scheduler == "cyclic":
            step = max(int(cfg.cycle_epochs * n_batches), 1)
            scale = [g["lr"] / cfg.lr for g in opt.param_groups]  # the offer term's group keeps its multiplier
            return torch.optim.lr_scheduler.CyclicLR(
                opt, base_lr=[cfg.base_lr * k for k in scale], max_lr=[cfg.lr * k for k in scale], step_size_up=step, cycle_momentum=False
            )
        if cfg.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, min_lr=cfg.min_lr)
        return None

    @torch.no_grad()
    def _loss_sum(self, net, data, mask, device) -> tuple[float, int]:
        """Summed BCE over the masked targets and their count (to be added over workers)."""
        if not mask.any():
            return 0.0, 0
        p, y = masked_probabilities(net, data, mask, device), data.y[mask]
        return bce(y, p) * y.size, int(y.size)

    def predict_proba(self, data: SequenceTensors) -> np.ndarray:
        """(P, T) purchase probabilities; step t uses inputs up to t only."""
        return column_probabilities(self.network_, data, list(range(data.y.shape[1])), torch.device("cpu"))[0]

    def predict_columns(
        self, data: SequenceTensors, columns: list[int], *, varied: list[tuple[int, Variants]] = (), batch: int = SCORING_BATCH
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P, len(columns)) probabilities at period indices `columns` (what predict_proba gives there,
        in one pass that scores only those periods), and (P, G): for each (column, variants) of `varied`,
        the probabilities at that period index for each variant of its inputs `variants(pair indices)`
        returns: [(tc (n, Ftc), tcat (n, Ktc))], everything before it as observed; the columns' variants
        side by side. Exact, and ~G times cheaper than re-scoring whole sequences."""
        return column_probabilities(self.network_, data, columns, torch.device("cpu"), varied=varied, batch=batch)

    def offer_variants(self, data: SequenceTensors, column: int, offers: np.ndarray) -> Variants:
        """`predict_columns` variants: period index `column` with its offer input set to each of `offers`."""
        return offer_variants(self.encoders, data, column, offers)

    def predict_at_offers(self, data: SequenceTensors, column: int, offers: np.ndarray, batch: int = SCORING_BATCH) -> np.ndarray:
        """(P, G) probabilities at period index `column` with its offer input set to each of `offers`,
        everything else as observed."""
        return self.predict_columns(data, [column], varied=[(column, self.offer_variants(data, column, offers))], batch=batch)[1]

    def save(self, path: str | Path, **extra) -> None:
        from offerwise.io import _atomic_write

        payload = {
            "state_dict": self.network_.state_dict(),
            "config": self.config.model_dump(mode="json"),
            "encoders": self.encoders.to_dict(),
            "history": self.history_,
            "selection": self.selection_,
            "chosen": self.chosen_,
            "calibration_shift": self.calibration_shift_,
            **extra,
        }
        _atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | Path) -> TCNModel:
        from offerwise import io
        from offerwise.model.baselines import retrain

        try:
            payload = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError):  # missing, truncated or not a checkpoint
            raise io.damaged(path, "TCN checkpoint", retrain(path)) from None
        missing = [k for k in ("state_dict", "config", "encoders", "history", "selection", "chosen") if k not in payload]
        if missing:
            raise io.damaged(path, "TCN checkpoint", retrain(path), f"not a TCN checkpoint: no {', '.join(missing)}")
        if not isinstance(payload["config"], dict) or not {"offer_term", "customer_buckets"} <= payload["config"].keys():
            raise io.damaged(path, "TCN checkpoint", retrain(path), "written by an older offerwise")
        model = cls(config=ModelConfig.model_validate(payload["config"]), encoders=Encoders(**payload["encoders"]))
        model.network_ = model.build_network()
        model.network_.load_state_dict(payload["state_dict"])
        model.network_.eval()
        model.history_, model.selection_, model.chosen_ = payload["history"], payload["selection"], payload["chosen"]
        model.calibration_shift_ = payload.get("calibration_shift", 0.0)
        model.extra_ = {
            k: v
            for k, v in payload.items()
            if k not in ("state_dict", "config", "encoders", "history", "selection", "chosen", "calibration_shift")
        }
        return model
