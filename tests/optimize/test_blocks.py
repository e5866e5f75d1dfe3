from __future__ import annotations

import numpy as np
import pytest

from offerwise.optimize import hull
from offerwise.optimize.blocks import NEG, PairBlock


def _arrays(seed: int, n: int = 50, L: int = 6):
    rng = np.random.default_rng(seed)
    v, r, c = rng.random((n, L)), rng.random((n, L)), rng.random((n, L))
    allowed = rng.random((n, L)) > 0.3
    allowed[:, 0] = True
    return v, r, c, allowed


@pytest.mark.parametrize(("lam", "mu"), [(0.0, 0.0), (0.7, 0.0), (0.0, 0.4), (1.3, 0.2)])
def test_dual_by_row_chunks_is_the_plain_argmax(lam: float, mu: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hull, "CHUNK", 7)
    v, r, c, allowed = _arrays(0)
    block = PairBlock(v, r, allowed, c)
    totals = block.dual(lam, mu)
    choice = (np.where(allowed, v, NEG) + lam * r - mu * c).argmax(axis=1)
    rows = np.arange(v.shape[0])
    assert (block.choice("dual") == choice).all()
    assert totals == (v[rows, choice].sum(), r[rows, choice].sum(), c[rows, choice].sum())


def test_feasibility_by_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hull, "CHUNK", 7)
    v, r, c, allowed = _arrays(1)
    allowed[3] = False
    empty, best, cheapest = PairBlock(v, r, allowed, c).feasibility()
    assert empty == 1
    assert best == pytest.approx(np.where(allowed, r, NEG).max(axis=1).sum())
    assert cheapest == pytest.approx(np.where(allowed, c, np.inf).min(axis=1).sum())


def test_a_repaired_choice_carries_the_values_at_its_levels() -> None:
    """move() patches the gathered values rather than gathering again: they must be the chosen levels'."""
    v, r, c, allowed = _arrays(2)
    block = PairBlock(v, r, allowed, c)
    block.start_from_max_retention()
    gain, loss, extra, *_ = block.movers("best")
    moved = np.arange(gain.size) % 2 == 0
    totals = block.move("best", moved)
    choice, rows = block.choice("repaired"), np.arange(v.shape[0])
    assert totals == pytest.approx((v[rows, choice].sum(), r[rows, choice].sum(), c[rows, choice].sum()), rel=1e-12)
    assert (gain > 1e-12).all() and gain.size == moved.size


def test_an_empty_block_answers_with_zeros() -> None:
    block = PairBlock(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros((0, 4), dtype=bool))
    assert block.feasibility() == (0, 0.0, 0.0)
    assert block.hull(0.0) == (0.0, 0.0, 0.0, 0)
    assert block.hull_between(-np.inf, np.inf)[0] == 0.0
    assert block.hull_take(0.5, 0) == (0.0, 0.0, 0.0)


def test_the_segment_repair_undoes_each_pair_s_last_segment_taken() -> None:
    r = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    v = np.array([[4.0, 3.9, 3.7, 3.0], [2.0, 1.0, 0.5, 0.0], [1.0, 2.0, 1.9, 1.7]])
    block = PairBlock(v, r, np.ones(r.shape, dtype=bool))
    block.hull(0.0)
    block.hull_take(2.5, 0)  # slopes: pair 0 takes 1, 2 (of 1, 2, 7); pair 1 none (10, 5, 5); pair 2 takes 1, 2 (1, 2)
    assert block.choice("hull").tolist() == [2, 0, 3]
    gain, loss, extra, *_ = block.hull_movers("hull")
    assert gain == pytest.approx([0.2, 0.2]) and loss == pytest.approx([0.1, 0.1]) and (extra == 0).all()
    totals = block.hull_move("hull", np.array([False, True]))
    assert block.choice("repaired").tolist() == [2, 0, 2]
    assert totals == pytest.approx((3.7 + 2.0 + 1.9, 0.3 + 0.1 + 0.3, 0.0))


def test_movers_that_cannot_fit_stay_in_the_block_but_count_the_room_they_free() -> None:
    r = np.array([[0.1, 0.2], [0.1, 0.3], [0.5, 0.2]])
    v = np.array([[2.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    block = PairBlock(v, r, np.ones(r.shape, dtype=bool))
    block.start_from_max_retention()  # levels 1, 1, 0: pair 2 is at its best already
    block.keep("best", "from")
    block._set("from", np.array([1, 1, 1]))  # every pair off its best level 0: losses 0.1, 0.2 and -0.3
    gain, loss, extra, free_r, free_c = block.movers("from", 0.15)
    assert loss.tolist() == pytest.approx([0.1, -0.3]) and free_r == pytest.approx(0.3) and free_c == 0.0
    block.move("from", np.array([False, True]), 0.15)
    assert block.choice("repaired").tolist() == [1, 1, 0]
