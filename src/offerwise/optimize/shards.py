"""The Lagrangian offer solver across consumer shards.

A category's pairs are split by shard (hash(customer_id) mod N, features/shards.shard_of); each
shard's pairs form one `PairBlock`. The driver keeps the multipliers and works on what the blocks
return: sums (value, retention and spend at a multiplier, and the certified bound from them), a
sample of their hull segments and the segments near the crossing slope (solvers.py); the greedy
repair gathers each movable pair's (gain, loss, extra spend), never the (pairs x levels) arrays.

Engines: `local` keeps the blocks in this process; `ray` places them in Ray actors, at most one per
CPU of the cluster (an actor holds several shards' blocks), which live for one optimize stage. Both
add the blocks' sums in shard order, so both give the same offers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from offerwise.config import RuntimeConfig
from offerwise.features.shards import shard_of
from offerwise.optimize.solvers import LocalBlocks, PairBlock, Solution, solve_blocks
from offerwise.runtime import ensure_ray


class BlockHolder:
    """A Ray actor's state: named groups of blocks (one group per category being solved)."""

    def __init__(self) -> None:
        self.groups: dict[str, list[PairBlock]] = {}

    def load(self, group: str, arrays: list[tuple]) -> int:
        self.groups[group] = [PairBlock(*a) for a in arrays]
        return len(arrays)

    def call(self, group: str, method: str, *args) -> list:
        return [getattr(b, method)(*args) for b in self.groups[group]]

    def call_each(self, group: str, method: str, args: list[tuple]) -> list:
        return [getattr(b, method)(*a) for b, a in zip(self.groups[group], args, strict=True)]

    def drop(self, group: str) -> None:
        self.groups.pop(group, None)


class RayBlocks:
    """Blocks in Ray actors; answers in shard order, as LocalBlocks gives them."""

    def __init__(self, ray, actors: list, group: str, owners: list[list[int]]) -> None:
        self.ray, self.actors, self.group, self.owners = ray, actors, group, owners  # owners[a]: block positions actor a holds

    def _ordered(self, answers: list[list]) -> list:
        out: list = [None] * sum(len(o) for o in self.owners)
        for positions, values in zip(self.owners, answers, strict=True):
            for pos, value in zip(positions, values, strict=True):
                out[pos] = value
        return out

    def call(self, method: str, *args) -> list:
        return self._ordered(self.ray.get([a.call.remote(self.group, method, *args) for a in self.actors]))

    def call_each(self, method: str, args: list[tuple]) -> list:
        mine = [[args[pos] for pos in positions] for positions in self.owners]
        return self._ordered(self.ray.get([a.call_each.remote(self.group, method, m) for a, m in zip(self.actors, mine, strict=True)]))


class ShardedSolver:
    """solve(v, r, allowed, R, c, B, customer_ids) with one block per consumer shard; a context
    manager so that Ray actors are released when the stage ends."""

    def __init__(self, cfg: RuntimeConfig) -> None:
        self.cfg, self.ray, self.actors, self.calls = cfg, None, [], 0

    def __enter__(self) -> ShardedSolver:
        if self.cfg.engine == "ray":
            self.ray = ensure_ray(self.cfg)
            holder = self.ray.remote(num_cpus=0)(BlockHolder)  # memory holders, idle between calls: no CPU reserved
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            self.actors = [holder.remote() for _ in range(max(1, min(self.cfg.shards, cpus)))]
        return self

    def __exit__(self, *exc) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []

    def solve(self, v, r, allowed, R: float, c, B: float | None, customer_ids: Sequence[int] | pl.Series) -> Solution:
        shard = pl.DataFrame({"customer_id": customer_ids}).select(shard_of("customer_id", self.cfg.shards)).to_series().to_numpy()
        rows = [np.flatnonzero(shard == k) for k in range(self.cfg.shards)]
        rows = [idx for idx in rows if idx.size]
        arrays = [(v[idx], r[idx], allowed[idx], None if c is None else c[idx]) for idx in rows]
        if self.cfg.engine == "ray":
            self.calls += 1
            group = f"solve-{self.calls}"
            owners = [list(range(a, len(arrays), len(self.actors))) for a in range(len(self.actors))]
            self.ray.get([actor.load.remote(group, [arrays[i] for i in own]) for actor, own in zip(self.actors, owners, strict=True)])
            blocks = RayBlocks(self.ray, self.actors, group, owners)
        else:
            blocks = LocalBlocks([PairBlock(*a) for a in arrays])
        try:
            sol = solve_blocks(blocks, R, B)
        finally:
            if self.cfg.engine == "ray":
                self.ray.get([actor.drop.remote(group) for actor in self.actors])
        choice = np.zeros(v.shape[0], dtype=int)
        for idx, part in zip(rows, sol.choice, strict=True):
            choice[idx] = part
        return Solution(
            choice, sol.objective, sol.bound, f"lagrangian ({len(rows)} shards, {self.cfg.engine})", sol.seconds, sol.multiplier
        )
