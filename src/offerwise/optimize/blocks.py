"""Blocks of pairs for the Lagrangian solver (optimize/solvers.py): each holds its (n, L) arrays and
answers the driver with sums (and, for the hull method, the segments near the crossing), so the
driver sees no (pairs x levels) array. The same class runs in this process (LocalBlocks) or inside a
Ray actor (optimize/shards.py), so both engines do the same arithmetic."""

from __future__ import annotations

import numpy as np

from offerwise.optimize import hull

NEG = -1e30


class PairBlock:
    """One block of pairs (a consumer shard's). Choices are kept by name ("dual": the last dual
    argmax; "start" and "hull": the hull method's; "repaired", "best"), with the chosen levels'
    value, retention and spend gathered once per choice."""

    def __init__(self, v, r, allowed, c=None) -> None:
        self.v, self.r, self.allowed, self.c = v, r, allowed, c
        self.v_masked = np.where(allowed, v, NEG)
        self.target = self.v_masked.argmax(axis=1)  # each pair's best level in range: where the repair moves it
        self.base = np.arange(v.shape[0]) * v.shape[1]  # flat index of each pair's first level
        self.choices: dict[str, np.ndarray] = {"target": self.target}
        self.values: dict[str, tuple] = {}
        self.segments: hull.Segments | None = None
        self.last = np.zeros(0, dtype=int)  # each moved pair's last segment in the take that made "hull"
        self.undo: tuple | None = None  # the segment repair's candidates on "hull"

    def _set(self, name: str, choice: np.ndarray, values: tuple | None = None) -> None:
        if name == "hull":  # a new "hull" voids the last take's segment repair until hull_take sets it
            self.last, self.undo = np.zeros(0, dtype=int), None
        self.choices[name] = choice
        self.values.pop(name, None)
        if values is not None:
            self.values[name] = values

    def _at(self, name: str) -> tuple:
        """The chosen levels' (value, retention, spend) per pair; spend None without a budget."""
        if name not in self.values:
            flat = self.base + self.choices[name]  # np.take on flat indices: a third of 2-D fancy indexing's time
            self.values[name] = tuple(None if a is None else np.take(a, flat) for a in (self.v, self.r, self.c))
        return self.values[name]

    def feasibility(self) -> tuple[int, float, float]:
        """Pairs with no allowed level; the most retention; the least spend (0 without a budget)."""
        n = self.v.shape[0]
        if n == 0:
            return 0, 0.0, 0.0
        empty = int((~self.allowed.any(axis=1)).sum())
        best, cheapest = np.empty(n), np.zeros(n)
        for a, b in hull.chunks(n):  # no (n, L) temporary
            best[a:b] = np.where(self.allowed[a:b], self.r[a:b], NEG).max(axis=1)
            if self.c is not None:
                cheapest[a:b] = np.where(self.allowed[a:b], self.c[a:b], np.inf).min(axis=1)
        return empty, float(best.sum()), float(cheapest.sum())

    def totals(self, name: str) -> tuple[float, float, float]:
        v, r, c = self._at(name)
        return float(v.sum()), float(r.sum()), 0.0 if c is None else float(c.sum())

    def dual(self, lam: float, mu: float) -> tuple[float, float, float]:
        """Per-pair argmax of the Lagrangian score (kept as "dual"); its value, retention, spend.
        By row chunks: the score stays in cache and no (n, L) temporary is made."""
        choice = np.empty(self.v.shape[0], dtype=np.intp)
        for a, b in hull.chunks(self.v.shape[0]):
            score = self.v_masked[a:b] + lam * self.r[a:b] if lam else self.v_masked[a:b]
            if self.c is not None and mu:
                score = score - mu * self.c[a:b]
            choice[a:b] = score.argmax(axis=1)
        self._set("dual", choice)
        return self.totals("dual")

    def hull(self, mu: float) -> tuple[float, float, float, int]:
        """Each pair's hull of v − μc against r (hull.py), from its best level, kept as "start"; the
        start's value, retention and spend, and the number of hull segments."""
        vm = self.v_masked - mu * self.c if mu else self.v_masked  # forbidden levels stay far below any allowed one
        if mu:
            self._set("start", vm.argmax(axis=1))
        else:
            self._set("start", self.target, self._at("target"))
        self.segments = hull.segments(vm, self.r, self.allowed, self.choices["start"])
        return (*self.totals("start"), int(self.segments.slope.size))

    def hull_sample(self, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Every `stride`-th segment's slope and Δr: where the driver looks for the crossing."""
        return self.segments.slope[::stride], self.segments.dr[::stride]

    def hull_between(self, lo: float, hi: float) -> tuple[float, np.ndarray, np.ndarray]:
        """The retention of the segments of slope below `lo`; the slopes and Δr of those from `lo` to `hi`."""
        slope, dr = self.segments.slope, self.segments.dr
        inside = (slope >= lo) & (slope <= hi)
        return float(dr[slope < lo].sum()), slope[inside], dr[inside]

    def hull_take(self, lam: float, ties: int) -> tuple[float, float, float]:
        """Take the segments of slope below λ* and the first `ties` of slope λ* (kept as "hull"); its sums."""
        last = hull.last_taken(self.segments, lam, ties)
        totals = self._moved("start", self.segments.row[last], self.segments.level[last], "hull")
        self.last = last
        return totals

    def _undo(self) -> tuple[np.ndarray, ...]:
        """The segment repair's candidates on "hull" as hull_take left it: the pairs that gain value
        when their last segment taken is undone; (rows, level before it, gain, retention loss,
        extra spend), in row order."""
        if self.undo is None:
            back = hull.before(self.segments, self.choices["start"], self.last)
            self.undo = self._towards("hull", back, rows=self.segments.row[self.last])
        return self.undo

    def _movers(self, source: str) -> tuple[np.ndarray, ...]:
        """The whole-pair repair's candidates from choice `source`: the pairs whose unconstrained best
        level in range gains value; (rows, that level, gain, retention loss, extra spend), in row order."""
        return self._towards(source, self.target, to=self._at("target"))

    def _towards(self, source: str, levels: np.ndarray, rows: np.ndarray | None = None, to: tuple | None = None) -> tuple[np.ndarray, ...]:
        """The moves of `rows` (all pairs if None) from choice `source` to `levels` (values `to`,
        gathered if None) that gain value: (rows, levels, gain, retention loss, extra spend)."""
        at = self._at(source) if rows is None else [None if a is None else a[rows] for a in self._at(source)]
        if to is None:
            to = [None if a is None else np.take(a, self.base[rows] + levels) for a in (self.v, self.r, self.c)]
        gain = to[0] - at[0]
        ok = np.flatnonzero(gain > 1e-12)
        extra = np.zeros(ok.size) if self.c is None else (to[2] - at[2])[ok]
        return ok if rows is None else rows[ok], levels[ok], gain[ok], (at[1] - to[1])[ok], extra

    def movers(self, source: str, most_r: float = np.inf, most_c: float = np.inf) -> tuple:
        """The repair's candidates from choice `source` (pairs whose unconstrained best level in
        range gains value): see _fitting."""
        return _fitting(self._movers(source), most_r, most_c)[2:]

    def move(self, source: str, moved: np.ndarray, most_r: float = np.inf, most_c: float = np.inf) -> tuple[float, float, float]:
        """Move the candidates of `movers` flagged in `moved` to their best level: "repaired"."""
        rows, levels = _fitting(self._movers(source), most_r, most_c)[:2]
        return self._moved(source, rows[moved], levels[moved])

    def hull_movers(self, source: str, most_r: float = np.inf, most_c: float = np.inf) -> tuple:
        """The segment repair's candidates (see _undo): the repair's "movers", on "hull" only."""
        if source != "hull":
            raise ValueError(f"the segment repair works on the hull's take, not on {source!r}.")
        return _fitting(self._undo(), most_r, most_c)[2:]

    def hull_move(self, source: str, moved: np.ndarray, most_r: float = np.inf, most_c: float = np.inf) -> tuple[float, float, float]:
        """Undo the last segment of the candidates of `hull_movers` flagged in `moved`: "repaired"."""
        rows, levels = _fitting(self._undo(), most_r, most_c)[:2]
        return self._moved("hull", rows[moved], levels[moved])

    def start_from_max_retention(self) -> None:
        self._set("best", np.where(self.allowed, self.r, NEG).argmax(axis=1))

    def _moved(self, source: str, rows: np.ndarray, levels: np.ndarray, name: str = "repaired") -> tuple[float, float, float]:
        """Choice `source` with `rows` moved to `levels`, kept as `name` with its values patched
        rather than gathered again; its sums."""
        if rows.size == 0:  # cached arrays are never written in place: share them
            self._set(name, self.choices[source], self._at(source))
            return self.totals(name)
        out = self.choices[source].copy()
        out[rows] = levels
        values = tuple(None if a is None else a.copy() for a in self._at(source))
        for a, full in zip(values, (self.v, self.r, self.c), strict=True):
            if a is not None:
                a[rows] = np.take(full, self.base[rows] + levels)
        self._set(name, out, values)
        return self.totals(name)

    def keep(self, source: str, name: str) -> None:
        self._set(name, self.choices[source], self.values.get(source))

    def choice(self, name: str) -> np.ndarray:
        return self.choices[name]


def _fitting(candidates: tuple, most_r: float, most_c: float) -> tuple:
    """A repair's candidates (rows, levels, gain, loss, extra) whose retention loss and extra spend
    fit in `most_r` and `most_c` (the others can never move, so they need not travel); and the
    retention and spend that all the candidates' negative losses and extras could free."""
    rows, levels, gain, loss, extra = candidates
    fit = (loss <= most_r) & (extra <= most_c)
    free = float(np.maximum(-loss, 0).sum()), float(np.maximum(-extra, 0).sum())
    return rows[fit], levels[fit], gain[fit], loss[fit], extra[fit], *free


class LocalBlocks:
    """Blocks in this process: each call goes to every block in order, answers in a list."""

    def __init__(self, blocks: list[PairBlock]) -> None:
        self.blocks = blocks

    def call(self, method: str, *args) -> list:
        return [getattr(b, method)(*args) for b in self.blocks]

    def call_each(self, method: str, args: list[tuple]) -> list:
        """Block i gets args[i]."""
        return [getattr(b, method)(*a) for b, a in zip(self.blocks, args, strict=True)]
