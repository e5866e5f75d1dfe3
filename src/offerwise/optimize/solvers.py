"""Exact and scalable solvers of the multiple-choice offer problem.

    max  Σ_i Σ_j v_ij x_ij
    s.t. Σ_j x_ij = 1                    for every pair i         (one offer level per pair)
         Σ_ij r_ij x_ij ≥ R              retention (R = target share × n)
         Σ_ij c_ij x_ij ≤ B              promotion budget (optional)
         x_ij ∈ {0, 1}; levels with allowed_ij = False are forbidden

Arrays are (n, L): n pairs, L candidate offer levels.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import highspy
import numpy as np

NEG = -1e30


class InfeasibleError(ValueError):
    """The constraints cannot all hold; `best_retention` says how close one can get."""

    def __init__(self, message: str, best_retention: float) -> None:
        super().__init__(message)
        self.best_retention = best_retention


@dataclass
class Solution:
    choice: np.ndarray  # (n,) index of the chosen level per pair
    objective: float
    bound: float  # dual (upper) bound on the optimum
    solver: str
    seconds: float
    multiplier: float = float("nan")  # retention's Lagrange multiplier (value per unit of retention); NaN from the MILP

    @property
    def gap(self) -> float:
        return (self.bound - self.objective) / max(abs(self.bound), 1e-12)


def check_feasible(allowed: np.ndarray, r: np.ndarray, R: float, c: np.ndarray | None = None, B: float | None = None) -> None:
    """Raise InfeasibleError for an empty offer range or an unreachable retention target or budget."""
    _check_reachable(*PairBlock(np.zeros(r.shape), r, allowed, c).feasibility(), R, B)


def _check_reachable(empty: float, best: float, cheapest: float, R: float, B: float | None) -> None:
    """empty: pairs with no allowed level; best: the most retention; cheapest: the least spend."""
    if empty:
        raise InfeasibleError(f"{int(empty)} pair(s) have no offer level inside the offer range.", best_retention=float("nan"))
    if best < R - 1e-9:
        raise InfeasibleError(f"the retention target {R:.2f} is unreachable; at most {best:.2f} can be retained.", best_retention=best)
    if B is not None and cheapest > B + 1e-9:
        raise InfeasibleError(f"the promotion budget {B:.2f} is below the cheapest possible spend {cheapest:.2f}.", best_retention=best)


def solve_milp(v, r, allowed, R, c=None, B=None, *, time_limit: float = 60.0, mip_gap: float = 1e-6) -> Solution:
    """Exact: HiGHS branch and bound on the binary formulation."""
    check_feasible(allowed, r, R, c, B)
    start = time.perf_counter()
    n, L = v.shape
    pair, level = np.nonzero(allowed)  # only allowed levels become columns: a far smaller model
    m = pair.size
    rows_per_col = 2 if c is None else 3
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m, n + rows_per_col - 1
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = v[pair, level].astype(float)
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.ones(m)
    lp.row_lower_ = np.r_[np.ones(n), R, [] if c is None else [-highspy.kHighsInf]]
    lp.row_upper_ = np.r_[np.ones(n), highspy.kHighsInf, [] if c is None else [B]]
    index = [pair, np.full(m, n)]  # one-choice row; retention row
    value = [np.ones(m), r[pair, level]]
    if c is not None:
        index.append(np.full(m, n + 1))  # budget row
        value.append(c[pair, level])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, m * rows_per_col + 1, rows_per_col)
    lp.a_matrix_.index_ = np.stack(index, axis=1).ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.stack(value, axis=1).ravel().astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * m
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise InfeasibleError("retention and budget cannot both hold (HiGHS: infeasible).", best_retention=float("nan"))
    col_value = np.asarray(h.getSolution().col_value)
    if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit) or (n and col_value.size != m):
        raise RuntimeError(f"HiGHS ended with model status '{h.modelStatusToString(status)}'.")
    info = h.getInfo()
    if (
        n
        and status == highspy.HighsModelStatus.kTimeLimit
        and info.primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible
    ):
        # No incumbent within the limit: HiGHS's column values are then no solution at all (they can
        # break retention). The Lagrangian solver's repaired choice is feasible; say so in its name.
        sol = solve_lagrangian(v, r, allowed, R, c, B)
        sol.solver = f"lagrangian (the MILP found no feasible solution within optimize.milp_time_limit = {time_limit:g} s)"
        sol.seconds += time.perf_counter() - start
        return sol
    x = np.zeros((n, L))
    x[pair, level] = col_value
    choice = x.argmax(axis=1)
    objective = float(v[np.arange(n), choice].sum())
    bound = float(info.mip_dual_bound) if n and status == highspy.HighsModelStatus.kTimeLimit else objective
    return Solution(choice, objective, max(bound, objective), f"milp ({h.modelStatusToString(status)})", time.perf_counter() - start)


class PairBlock:
    """One block of pairs (a consumer shard's) of the Lagrangian solver: it holds its (n, L) arrays
    and answers with sums, so the driver's bisection sees scalars only. The same class runs in this
    process or inside a Ray actor (optimize/shards.py), so both engines do the same arithmetic."""

    def __init__(self, v, r, allowed, c=None) -> None:
        self.v, self.r, self.allowed, self.c = v, r, allowed, c
        self.v_masked = np.where(allowed, v, NEG)
        self.target = self.v_masked.argmax(axis=1)  # each pair's best level in range: where the repair moves it
        self.rows = np.arange(v.shape[0])
        self.choices: dict[str, np.ndarray] = {}  # "dual": the last dual argmax; "repaired", "best"

    def feasibility(self) -> tuple[int, float, float]:
        """Pairs with no allowed level; the most retention; the least spend (0 without a budget)."""
        n = self.v.shape[0]
        if n == 0:
            return 0, 0.0, 0.0
        empty = int((~self.allowed.any(axis=1)).sum())
        best = float(np.where(self.allowed, self.r, NEG).max(axis=1).sum())
        cheapest = 0.0 if self.c is None else float(np.where(self.allowed, self.c, np.inf).min(axis=1).sum())
        return empty, best, cheapest

    def totals(self, name: str) -> tuple[float, float, float]:
        choice = self.choices[name]
        return (
            float(self.v[self.rows, choice].sum()),
            float(self.r[self.rows, choice].sum()),
            0.0 if self.c is None else float(self.c[self.rows, choice].sum()),
        )

    def dual(self, lam: float, mu: float) -> tuple[float, float, float]:
        """Per-pair argmax of the Lagrangian score (kept as "dual"); its value, retention, spend."""
        score = self.v_masked + lam * self.r if lam else self.v_masked
        if self.c is not None and mu:
            score = score - mu * self.c
        self.choices["dual"] = score.argmax(axis=1)
        return self.totals("dual")

    def start_from_max_retention(self) -> None:
        self.choices["best"] = np.where(self.allowed, self.r, NEG).argmax(axis=1)

    def movers(self, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The repair's candidates from choice `source`: pairs whose unconstrained best level in
        range gains value; (gain, retention loss, extra spend) of each, in row order."""
        choice, target = self.choices[source], self.target
        gain = self.v[self.rows, target] - self.v[self.rows, choice]
        movers = gain > 1e-12
        loss = self.r[self.rows, choice] - self.r[self.rows, target]
        extra = np.zeros_like(gain) if self.c is None else self.c[self.rows, target] - self.c[self.rows, choice]
        return gain[movers], loss[movers], extra[movers]

    def move(self, source: str, moved: np.ndarray) -> tuple[float, float, float]:
        """Move the movers of `source` flagged in `moved` (in movers' order) to their best level: "repaired"."""
        choice, target = self.choices[source], self.target
        movers = np.flatnonzero(self.v[self.rows, target] - self.v[self.rows, choice] > 1e-12)
        out = choice.copy()
        out[movers[moved]] = target[movers[moved]]
        self.choices["repaired"] = out
        return self.totals("repaired")

    def keep(self, source: str, name: str) -> None:
        self.choices[name] = self.choices[source]

    def choice(self, name: str) -> np.ndarray:
        return self.choices[name]


class LocalBlocks:
    """Blocks in this process: each call goes to every block in order, answers in a list."""

    def __init__(self, blocks: list[PairBlock]) -> None:
        self.blocks = blocks

    def call(self, method: str, *args) -> list:
        return [getattr(b, method)(*args) for b in self.blocks]

    def call_each(self, method: str, args: list[tuple]) -> list:
        """Block i gets args[i]."""
        return [getattr(b, method)(*a) for b, a in zip(self.blocks, args, strict=True)]


def _sum(parts: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(float(sum(values)) for values in zip(*parts, strict=True)) if parts else (0.0, 0.0, 0.0)


def _repair(blocks, R: float, B: float | None, source: str) -> tuple[float, float, float]:
    """Greedy improvement of a feasible choice over all blocks: move pairs to their unconstrained
    best level, least retention loss per value gained first, while every constraint still holds.
    Gathers each mover's (gain, loss, extra spend), never the level arrays; leaves "repaired"."""
    _, ret, cost = _sum(blocks.call("totals", source))
    parts = blocks.call("movers", source)
    gain, loss, extra = (np.concatenate([part[i] for part in parts]) if parts else np.zeros(0) for i in range(3))
    order = np.argsort(-gain / np.maximum(loss, 1e-12), kind="stable")
    slack_r, slack_c = ret - R, (np.inf if B is None else B - cost)
    moved = np.zeros(gain.size, dtype=bool)
    # Sequential by nature (each move spends slack the next one needs): a plain loop over movers.
    for i in order:
        if loss[i] <= slack_r + 1e-12 and extra[i] <= slack_c + 1e-12:
            moved[i] = True
            slack_r -= loss[i]
            slack_c -= extra[i]
    bounds = np.cumsum([0] + [part[0].size for part in parts])
    per_block = [moved[a:b] for a, b in itertools.pairwise(bounds)]
    return _sum(blocks.call_each("move", [(source, m) for m in per_block]))


def solve_lagrangian(v, r, allowed, R, c=None, B=None, *, iterations: int = 60, tolerance: float = 1e-7) -> Solution:
    """Scalable: relax retention (and budget) with multipliers, argmax per pair, bisect on the
    multipliers; the dual function gives an upper bound, a greedy repair a feasible solution.
    Bisection stops once the repaired solution is within `tolerance` of the dual bound."""
    if v.shape[0] == 0:
        check_feasible(allowed, r, R, c, B)
        return Solution(np.zeros(0, dtype=int), 0.0, 0.0, "lagrangian", 0.0)
    sol = solve_blocks(LocalBlocks([PairBlock(v, r, allowed, c)]), R, B, iterations=iterations, tolerance=tolerance)
    return Solution(sol.choice[0], sol.objective, sol.bound, sol.solver, sol.seconds, sol.multiplier)


def solve_blocks(blocks, R: float, B: float | None = None, *, iterations: int = 60, tolerance: float = 1e-7) -> Solution:
    """solve_lagrangian over blocks of pairs (LocalBlocks, or optimize/shards.RayBlocks of actors):
    the multipliers live here and only sums cross. Solution.choice is the list of blocks' choices."""
    start = time.perf_counter()
    empty, best_retention, cheapest = _sum(blocks.call("feasibility"))
    if empty:
        raise InfeasibleError(f"{int(empty)} pair(s) have no offer level inside the offer range.", best_retention=float("nan"))
    if best_retention < R - 1e-9:
        raise InfeasibleError(
            f"the retention target {R:.2f} is unreachable; at most {best_retention:.2f} can be retained.", best_retention=best_retention
        )
    if B is not None and cheapest > B + 1e-9:
        raise InfeasibleError(
            f"the promotion budget {B:.2f} is below the cheapest possible spend {cheapest:.2f}.", best_retention=best_retention
        )
    budget = B is not None
    state = {"best_obj": -np.inf, "bound": np.inf, "multiplier": 0.0, "found": False}

    def dual(lam, mu):
        obj, ret, cost = _sum(blocks.call("dual", lam, mu))
        value = obj + lam * (ret - R) - (mu * (cost - B) if budget else 0.0)
        return obj, ret, cost, value

    def inner(mu):  # bisection on the retention multiplier at fixed mu
        lo, hi = 0.0, 1.0
        while True:  # grow hi until retention holds
            obj, ret, cost, value = dual(hi, mu)
            if ret >= R - 1e-9 or hi > 1e12:
                break
            hi *= 10
        for lam in [0.0] + [None] * iterations:
            lam = lam if lam is not None else (lo + hi) / 2
            obj, ret, cost, value = dual(lam, mu)
            state["bound"] = min(state["bound"], value)
            feasible = ret >= R - 1e-9 and (not budget or cost <= B + 1e-9)
            if feasible and obj > state["best_obj"]:
                state["best_obj"] = _repair(blocks, R, B, "dual")[0]
                blocks.call("keep", "repaired", "best")
                state["found"], state["multiplier"] = True, lam
            if not budget and state["found"] and state["bound"] - state["best_obj"] <= tolerance * max(abs(state["bound"]), 1.0):
                break
            if ret >= R - 1e-9:
                hi = lam
                if lam == 0.0:
                    break
            else:
                lo = lam
        return cost

    if not budget:
        inner(0.0)
    else:
        lo, hi = 0.0, 1.0
        while inner(hi) > B + 1e-9 and hi < 1e12:
            hi *= 10
        for _ in range(25):
            mu = (lo + hi) / 2
            if inner(mu) > B + 1e-9:
                lo = mu
            else:
                hi = mu
    if not state["found"]:  # no feasible multiplier found: start the repair from max retention
        blocks.call("start_from_max_retention")
    objective, retained, spent = _repair(blocks, R, B, "best")
    if retained < R - 1e-9 or (budget and spent > B + 1e-9):  # each holds alone, not both together
        raise InfeasibleError(
            f"retention {R:.2f} and budget {B:.2f} cannot both hold; the best found keeps {retained:.2f} at a spend of {spent:.2f}.",
            best_retention=retained,
        )
    choice = blocks.call("choice", "repaired")
    return Solution(choice, objective, max(state["bound"], objective), "lagrangian", time.perf_counter() - start, state["multiplier"])
