"""Exact and scalable solvers of the multiple-choice offer problem.

    max  Σ_i Σ_j v_ij x_ij
    s.t. Σ_j x_ij = 1                    for every pair i         (one offer level per pair)
         Σ_ij r_ij x_ij ≥ R              retention (R = target share × n)
         Σ_ij c_ij x_ij ≤ B              promotion budget (optional)
         x_ij ∈ {0, 1}; levels with allowed_ij = False are forbidden

Arrays are (n, L): n pairs, L candidate offer levels.

`solve_milp` is exact (HiGHS). `solve_lagrangian` / `solve_blocks` relax the coupling rows with
multipliers and certify their gap with the dual bound. Their retention multiplier comes by default
from the pairs' concave hulls (hull.py): one merge of every pair's hull segments by slope gives the
LP relaxation's optimum and λ* exactly, with no bisection. With a budget the budget multiplier μ is
still bisected, and the hulls of v − μc give λ* at each μ. method="bisection" keeps the former
bisection on λ (the benchmark's baseline).
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass

import highspy
import numpy as np

from offerwise.optimize import hull
from offerwise.optimize.blocks import NEG, LocalBlocks, PairBlock

__all__ = [
    "NEG",
    "InfeasibleError",
    "LocalBlocks",
    "PairBlock",
    "Solution",
    "check_feasible",
    "solve_blocks",
    "solve_lagrangian",
    "solve_milp",
]


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


def _sum(parts: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(float(sum(values)) for values in zip(*parts, strict=True)) if parts else (0.0, 0.0, 0.0)


def _repair(blocks, R: float, B: float | None, source: str, movers: str = "movers", move: str = "move") -> tuple[float, float, float]:
    """Greedy improvement of a feasible choice over all blocks: move pairs to their unconstrained
    best level (or, with the hull's "hull_movers" / "hull_move", undo their last segment taken),
    least retention loss per value gained first, while every constraint still holds.
    Gathers each mover's (gain, loss, extra spend), never the level arrays; leaves "repaired"."""
    _, ret, cost = _sum(blocks.call("totals", source))
    slack_r, slack_c = ret - R, (np.inf if B is None else B - cost)
    # A mover that needs more slack than there can ever be never moves: the blocks leave it out. First
    # as if no move freed slack; if some can (a negative loss or extra), again with room for all of it.
    room = (slack_r + 1e-9 * max(1.0, abs(R)), slack_c + 1e-9 * max(1.0, abs(B or 0.0)))
    parts = blocks.call(movers, source, *room)
    free_r, free_c = (sum(part[i] for part in parts) for i in (3, 4))
    if free_r > 0 or free_c > 0:
        room = (room[0] + free_r, room[1] + free_c)
        parts = blocks.call(movers, source, *room)
    gain, loss, extra = (np.concatenate([part[i] for part in parts]) if parts else np.zeros(0) for i in range(3))
    order = np.argsort(-gain / np.maximum(loss, 1e-12), kind="stable")
    moved = np.zeros(gain.size, dtype=bool)
    # Sequential by nature (each move spends slack the next one needs): a plain loop over movers.
    for i in order:
        if loss[i] <= slack_r + 1e-12 and extra[i] <= slack_c + 1e-12:
            moved[i] = True
            slack_r -= loss[i]
            slack_c -= extra[i]
    bounds = np.cumsum([0] + [part[0].size for part in parts])
    per_block = [moved[a:b] for a, b in itertools.pairwise(bounds)]
    return _sum(blocks.call_each(move, [(source, m, *room) for m in per_block]))


def solve_lagrangian(v, r, allowed, R, c=None, B=None, *, method: str = "hull", iterations: int = 60, tolerance: float = 1e-7) -> Solution:
    """Scalable: relax retention (and budget) with multipliers, argmax per pair; the dual function
    gives an upper bound, a greedy repair a feasible solution. The retention multiplier comes from
    the pairs' hulls (method "hull", hull.py) or from bisection (method "bisection": it stops once
    the repaired solution is within `tolerance` of the dual bound)."""
    if v.shape[0] == 0:
        check_feasible(allowed, r, R, c, B)
        return Solution(np.zeros(0, dtype=int), 0.0, 0.0, "lagrangian", 0.0)
    blocks = LocalBlocks([PairBlock(v, r, allowed, c)])
    sol = solve_blocks(blocks, R, B, method=method, iterations=iterations, tolerance=tolerance)
    return Solution(sol.choice[0], sol.objective, sol.bound, sol.solver, sol.seconds, sol.multiplier)


@dataclass
class _Best:
    """The driver's state: the best repaired objective and its multiplier, the least dual bound."""

    objective: float = -np.inf
    bound: float = np.inf
    multiplier: float = 0.0
    found: bool = False


def solve_blocks(
    blocks, R: float, B: float | None = None, *, method: str = "hull", iterations: int = 60, tolerance: float = 1e-7
) -> Solution:
    """solve_lagrangian over blocks of pairs (LocalBlocks, or optimize/shards.RayBlocks of actors):
    the multipliers live here and only sums (and the hull's segments near the crossing) cross.
    Solution.choice is the list of blocks' choices.

    With a budget the budget multiplier μ is bisected as before; at each μ the retention multiplier
    comes from the hulls of v − μc (method "hull") or from bisection (method "bisection")."""
    start = time.perf_counter()
    _check_reachable(*_sum(blocks.call("feasibility")), R, B)
    best = _Best()
    if method == "hull":
        inner = functools.partial(_hull_inner, blocks, R, B, best)
    elif method == "bisection":
        inner = functools.partial(_bisection_inner, blocks, R, B, best, iterations=iterations, tolerance=tolerance)
    else:
        raise ValueError(f"unknown method {method!r}: 'hull' or 'bisection'.")
    if B is None:
        inner(0.0)
    else:
        _bisect_budget(inner, B)
    if not best.found:  # no feasible multiplier found: start the repair from max retention
        blocks.call("start_from_max_retention")
    if best.found and method == "hull" and B is None:
        # Its best is repaired already, and every mover there loses retention: a second pass would move none.
        blocks.call("keep", "best", "repaired")
        objective, retained, spent = _sum(blocks.call("totals", "repaired"))
    else:
        objective, retained, spent = _repair(blocks, R, B, "best")
    if retained < R - 1e-9 or (B is not None and spent > B + 1e-9):  # each holds alone, not both together
        raise InfeasibleError(
            f"retention {R:.2f} and budget {B:.2f} cannot both hold; the best found keeps {retained:.2f} at a spend of {spent:.2f}.",
            best_retention=retained,
        )
    choice = blocks.call("choice", "repaired")
    return Solution(choice, objective, max(best.bound, objective), "lagrangian", time.perf_counter() - start, best.multiplier)


def _bisect_budget(inner, B: float) -> None:
    """Bisection on the budget multiplier μ; inner(μ) solves for retention at μ and returns the spend."""
    lo, hi = 0.0, 1.0
    while inner(hi) > B + 1e-9 and hi < 1e12:
        hi *= 10
    for _ in range(25):
        mu = (lo + hi) / 2
        if inner(mu) > B + 1e-9:
            lo = mu
        else:
            hi = mu


def _dual(blocks, R: float, B: float | None, lam: float, mu: float) -> tuple[float, float, float, float]:
    """Value, retention and spend of the per-pair argmax at (λ, μ), kept as "dual"; the dual function there."""
    obj, ret, cost = _sum(blocks.call("dual", lam, mu))
    return obj, ret, cost, obj + lam * (ret - R) - (mu * (cost - B) if B is not None else 0.0)


def _consider(blocks, R: float, B: float | None, best: _Best, source: str, lam: float, totals: tuple, bound: float) -> None:
    """Keep the least bound; repair choice `source` and keep it as "best" when it is feasible and,
    before repair, better than the best so far."""
    obj, ret, cost = totals
    best.bound = min(best.bound, bound)
    feasible = ret >= R - 1e-9 and (B is None or cost <= B + 1e-9)
    if feasible and obj > best.objective:
        best.objective = _repair(blocks, R, B, source)[0]
        blocks.call("keep", "repaired", "best")
        best.found, best.multiplier = True, lam


def _hull_inner(blocks, R: float, B: float | None, best: _Best, mu: float) -> float:
    """The exact retention multiplier at μ from the pairs' hulls (hull.py), without bisection: every
    pair starts at its best level of v − μc and, if retention falls short, takes its hull segments of
    slope below λ*; the pair whose segment crosses the deficit takes it whole. The spend."""
    parts = blocks.call("hull", mu)
    deficit = R - _sum([p[:3] for p in parts])[1]
    lam, ties = (0.0, [0] * len(parts)) if deficit <= 1e-9 else _crossing(blocks, deficit, sum(p[3] for p in parts))
    totals = _sum(blocks.call_each("hull_take", [(lam, t) for t in ties]))
    if totals[1] >= R - 1e-9:  # the crossing segment's overshoot: undo other pairs' last segments that fit in it
        totals = _repair(blocks, R, B, "hull", "hull_movers", "hull_move")
        blocks.call("keep", "repaired", "hull")
    _consider(blocks, R, B, best, "hull", lam, totals, _dual(blocks, R, B, lam, mu)[3])
    return totals[2]


SAMPLE = 1 << 16  # segments sampled to place the crossing; the exact search then sorts only those near it


def _crossing(blocks, deficit: float, count: int) -> tuple[float, list[int]]:
    """λ* and each block's ties (hull.crossing): a strided sample of the segments estimates where the
    deficit is crossed; the blocks return the segments in a bracket of slopes around it, widened
    until it holds the crossing."""
    stride = max(1, count // SAMPLE)
    parts = blocks.call("hull_sample", stride)
    slope = np.concatenate([p[0] for p in parts])
    order = np.argsort(slope)
    slope = slope[order]
    at = int(np.searchsorted(np.cumsum(np.concatenate([p[1] for p in parts])[order]) * stride, deficit))
    width = max(16, slope.size // 128)
    lo, hi = at - width, at + width
    while True:
        parts = blocks.call("hull_between", slope[lo] if lo >= 0 else -np.inf, slope[hi] if hi < slope.size else np.inf)
        below = sum(p[0] for p in parts)
        if below >= deficit and lo >= 0:
            lo, hi, width = lo - 4 * width, lo, 4 * width
        elif below + sum(float(p[2].sum()) for p in parts) < deficit and hi < slope.size:
            lo, hi, width = hi, hi + 4 * width, 4 * width
        else:
            return hull.crossing([p[1] for p in parts], [p[2] for p in parts], below, deficit)


def _bisection_inner(blocks, R: float, B: float | None, best: _Best, mu: float, *, iterations: int, tolerance: float) -> float:
    """Bisection on the retention multiplier at fixed μ; the spend at the last multiplier tried."""
    lo, hi = 0.0, 1.0
    while True:  # grow hi until retention holds
        obj, ret, cost, value = _dual(blocks, R, B, hi, mu)
        if ret >= R - 1e-9 or hi > 1e12:
            break
        hi *= 10
    for lam in [0.0] + [None] * iterations:
        lam = lam if lam is not None else (lo + hi) / 2
        obj, ret, cost, value = _dual(blocks, R, B, lam, mu)
        _consider(blocks, R, B, best, "dual", lam, (obj, ret, cost), value)
        if B is None and best.found and best.bound - best.objective <= tolerance * max(abs(best.bound), 1.0):
            break
        if ret >= R - 1e-9:
            hi = lam
            if lam == 0.0:
                break
        else:
            lo = lam
    return cost
