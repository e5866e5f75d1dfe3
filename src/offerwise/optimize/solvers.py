"""Exact and scalable solvers of the multiple-choice offer problem.

    max  Σ_i Σ_j v_ij x_ij
    s.t. Σ_j x_ij = 1                    for every pair i         (one offer level per pair)
         Σ_ij r_ij x_ij ≥ R              retention (R = target share × n)
         Σ_ij c_ij x_ij ≤ B              promotion budget (optional)
         x_ij ∈ {0, 1}; levels with allowed_ij = False are forbidden

Arrays are (n, L): n pairs, L candidate offer levels.
"""

from __future__ import annotations

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
    """Raise InfeasibleError for an empty offer range or an unreachable retention target."""
    if allowed.shape[0] and not allowed.any(axis=1).all():
        empty = int((~allowed.any(axis=1)).sum())
        raise InfeasibleError(f"{empty} pair(s) have no offer level inside the offer range.", best_retention=float("nan"))
    best = float(np.where(allowed, r, NEG).max(axis=1).sum()) if allowed.shape[0] else 0.0
    if best < R - 1e-9:
        raise InfeasibleError(f"the retention target {R:.2f} is unreachable; at most {best:.2f} can be retained.", best_retention=best)
    if c is not None and B is not None and allowed.shape[0]:
        cheapest = float(np.where(allowed, c, np.inf).min(axis=1).sum())
        if cheapest > B + 1e-9:
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
    x = np.zeros((n, L))
    x[pair, level] = col_value
    choice = x.argmax(axis=1)
    objective = float(v[np.arange(n), choice].sum())
    bound = float(info.mip_dual_bound) if n and status == highspy.HighsModelStatus.kTimeLimit else objective
    return Solution(choice, objective, max(bound, objective), f"milp ({h.modelStatusToString(status)})", time.perf_counter() - start)


def _best(v_masked, r, c, lam: float, mu: float) -> np.ndarray:
    """Per-pair argmax of the Lagrangian score; v_masked is NEG on forbidden levels."""
    score = v_masked + lam * r if lam else v_masked
    if c is not None and mu:
        score = score - mu * c
    return score.argmax(axis=1)


def _totals(v, r, c, choice) -> tuple[float, float, float]:
    rows = np.arange(v.shape[0])
    return float(v[rows, choice].sum()), float(r[rows, choice].sum()), 0.0 if c is None else float(c[rows, choice].sum())


def solve_lagrangian(v, r, allowed, R, c=None, B=None, *, iterations: int = 60, tolerance: float = 1e-7) -> Solution:
    """Scalable: relax retention (and budget) with multipliers, argmax per pair, bisect on the
    multipliers; the dual function gives an upper bound, a greedy repair a feasible solution.
    Bisection stops once the repaired solution is within `tolerance` of the dual bound."""
    check_feasible(allowed, r, R, c, B)
    start = time.perf_counter()
    n = v.shape[0]
    if n == 0:
        return Solution(np.zeros(0, dtype=int), 0.0, 0.0, "lagrangian", time.perf_counter() - start)
    best_choice, best_obj, bound, multiplier = None, -np.inf, np.inf, 0.0
    v_masked = np.where(allowed, v, NEG)

    def dual(lam, mu):
        choice = _best(v_masked, r, c, lam, mu)
        obj, ret, cost = _totals(v, r, c, choice)
        value = obj + lam * (ret - R) - (0.0 if c is None else mu * (cost - B))
        return choice, obj, ret, cost, value

    def inner(mu):  # bisection on the retention multiplier at fixed mu
        nonlocal best_choice, best_obj, bound, multiplier
        lo, hi = 0.0, 1.0
        while True:  # grow hi until retention holds
            choice, obj, ret, cost, value = dual(hi, mu)
            if ret >= R - 1e-9 or hi > 1e12:
                break
            hi *= 10
        for lam in [0.0] + [None] * iterations:
            lam = lam if lam is not None else (lo + hi) / 2
            choice, obj, ret, cost, value = dual(lam, mu)
            bound = min(bound, value)
            feasible = ret >= R - 1e-9 and (c is None or cost <= B + 1e-9)
            if feasible and obj > best_obj:
                best_choice = _repair(v, r, c, allowed, R, B, choice)
                best_obj = _totals(v, r, c, best_choice)[0]
                multiplier = lam
            if c is None and best_obj > -np.inf and bound - best_obj <= tolerance * max(abs(bound), 1.0):
                break
            if ret >= R - 1e-9:
                hi = lam
                if lam == 0.0:
                    break
            else:
                lo = lam
        return cost

    if c is None:
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
    if best_choice is None:  # no feasible multiplier found: start the repair from max retention
        best_choice = np.where(allowed, r, NEG).argmax(axis=1)
    choice = _repair(v, r, c, allowed, R, B, best_choice)
    objective, retained, spent = _totals(v, r, c, choice)
    if retained < R - 1e-9 or (c is not None and spent > B + 1e-9):  # each holds alone, not both together
        raise InfeasibleError(
            f"retention {R:.2f} and budget {B:.2f} cannot both hold; the best found keeps {retained:.2f} at a spend of {spent:.2f}.",
            best_retention=retained,
        )
    return Solution(choice, objective, max(bound, objective), "lagrangian", time.perf_counter() - start, multiplier)


def _repair(v, r, c, allowed, R, B, choice) -> np.ndarray:
    """Greedy improvement of a feasible choice: move pairs to their unconstrained best level,
    cheapest retention loss per value gained first, while every constraint still holds."""
    rows = np.arange(v.shape[0])
    target = np.where(allowed, v, NEG).argmax(axis=1)
    gain = v[rows, target] - v[rows, choice]
    loss = r[rows, choice] - r[rows, target]
    extra = np.zeros_like(gain) if c is None else c[rows, target] - c[rows, choice]
    movers = np.flatnonzero(gain > 1e-12)
    order = movers[np.argsort(-gain[movers] / np.maximum(loss[movers], 1e-12), kind="stable")]
    _, ret, cost = _totals(v, r, c, choice)
    slack_r, slack_c = ret - R, (np.inf if c is None else B - cost)
    out = choice.copy()
    for i in order:
        if loss[i] <= slack_r + 1e-12 and extra[i] <= slack_c + 1e-12:
            out[i] = target[i]
            slack_r -= loss[i]
            slack_c -= extra[i]
    return out
