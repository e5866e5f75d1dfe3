from __future__ import annotations

import numpy as np
import pytest

from offerwise.optimize import hull
from offerwise.optimize.blocks import NEG


def _segments(v, r, allowed) -> hull.Segments:
    vm = np.where(allowed, v, NEG)
    return hull.segments(vm, r, allowed, vm.argmax(axis=1))


def _by_definition(v, r, allowed) -> list[tuple[float, float, float]]:
    """One pair's hull from its best level (the first among ties: an equal one of more r is then a
    segment of slope 0) upwards in r, by gift wrapping: from the current point, the allowed point of
    more r at the least slope (the farthest among equal slopes); (r, slope, Δr) of each."""
    points = [(r[j], v[j]) for j in range(len(v)) if allowed[j]]
    x0, y0 = next(p for p in points if p[1] == max(y for _, y in points))
    out = []
    while above := [(x, y) for x, y in points if x > x0]:
        slope = min((y0 - y) / (x - x0) for x, y in above)
        x, y = max((x, y) for x, y in above if (y0 - y) / (x - x0) <= slope + 1e-12)
        out.append((x, slope, x - x0))
        x0, y0 = x, y
    return out


def _merged(seg: hull.Segments, r, row: int) -> list[tuple[float, float, float]]:
    """A pair's segments with collinear neighbours merged (the consecutive path keeps each level)."""
    out: list[tuple[float, float, float]] = []
    for level, slope, dr in zip(seg.level[seg.row == row], seg.slope[seg.row == row], seg.dr[seg.row == row], strict=True):
        if out and abs(out[-1][1] - slope) <= 1e-12 * max(1.0, abs(slope)):
            out[-1] = (r[row, level], slope, out[-1][2] + dr)
        else:
            out.append((r[row, level], slope, dr))
    return out


def test_a_hand_made_pair_drops_points_below_the_hull_and_forbidden_levels() -> None:
    r = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    v = np.array([[5.0, 6.0, 5.9, 5.0, 4.9, 9.0]])  # level 3 lies below the chord from 2 to 4; level 5 is forbidden
    allowed = np.array([[True, True, True, True, True, False]])
    seg = _segments(v, r, allowed)
    assert seg.row.tolist() == [0, 0] and seg.level.tolist() == [2, 4]  # from the best level, 1, upwards in r
    assert seg.slope == pytest.approx([1.0, 5.0])  # (6.0 − 5.9) / 0.1, then (5.9 − 4.9) / 0.2
    assert seg.dr == pytest.approx([0.1, 0.2])


def test_the_same_pair_with_its_levels_shuffled_gives_the_same_hull() -> None:
    r = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    v = np.array([[5.0, 6.0, 5.9, 5.0, 4.9, 9.0]])
    allowed = np.array([[True, True, True, True, True, False]])
    perm = np.array([4, 0, 5, 2, 1, 3])  # r no longer rises along the levels: the monotone chain
    seg = _segments(v[:, perm], r[:, perm], allowed[:, perm])
    assert perm[seg.level].tolist() == [2, 4]
    assert seg.slope == pytest.approx([1.0, 5.0]) and seg.dr == pytest.approx([0.1, 0.2])


def test_a_pair_at_its_most_retention_already_has_no_segment() -> None:
    seg = _segments(np.array([[1.0, 2.0, 3.0]]), np.array([[0.1, 0.2, 0.3]]), np.ones((1, 3), dtype=bool))
    assert seg.row.size == 0


@pytest.mark.parametrize("seed", range(6))
def test_segments_match_the_hull_by_definition(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random pairs: sorted and unsorted r, ties in r and v, gaps of forbidden levels; small chunks."""
    monkeypatch.setattr(hull, "CHUNK", 7)
    rng = np.random.default_rng(seed)
    n, L = 60, int(rng.integers(2, 10))
    r = rng.random((n, L)) if seed % 2 else np.sort(rng.random((n, L)), axis=1)
    v = -(np.sort(rng.random((n, L)), axis=1) ** 2) if seed % 3 == 0 else rng.random((n, L))
    r, v = (np.round(r, 1), np.round(v, 1)) if seed == 5 else (r, v)
    allowed = rng.random((n, L)) > (0.0 if seed % 3 == 0 else 0.3)
    allowed[np.arange(n), rng.integers(0, L, n)] = True
    seg = _segments(v, r, allowed)
    for i in range(n):
        got, expected = _merged(seg, r, i), _by_definition(v[i], r[i], allowed[i])
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g == pytest.approx(e, abs=1e-9)
    firsts = seg.row[np.r_[True, seg.row[1:] != seg.row[:-1]]] if seg.row.size else seg.row
    assert len(set(firsts.tolist())) == firsts.size  # each pair's segments stand together


def test_crossing_finds_the_first_slope_that_covers_the_deficit_and_splits_ties_by_block() -> None:
    slopes = [np.array([1.0, 2.0, 2.0]), np.array([2.0, 3.0])]
    drs = [np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5])]
    # the crossing segment is one of the ties it counts
    assert hull.crossing(slopes, drs, below=0.0, deficit=0.4) == (1.0, [1, 0])
    assert hull.crossing(slopes, drs, below=0.0, deficit=0.9) == (2.0, [1, 0])
    assert hull.crossing(slopes, drs, below=0.0, deficit=1.6) == (2.0, [2, 1])
    assert hull.crossing(slopes, drs, below=1.0, deficit=1.2) == (1.0, [1, 0])
    assert hull.crossing(slopes, drs, below=0.0, deficit=99.0) == (3.0, [0, 1])  # short only by rounding: every segment


def test_the_last_segment_taken_ends_a_prefix_of_each_pair_s_segments() -> None:
    seg = hull.Segments(np.array([0, 0, 2]), np.array([3, 5, 1]), np.array([1.0, 2.0, 2.0]), np.array([0.1, 0.1, 0.1]))
    for lam, ties, last in [(1.5, 0, [0]), (2.0, 1, [1]), (2.0, 2, [1, 2]), (0.0, 0, [])]:
        assert hull.last_taken(seg, lam, ties).tolist() == last
    start = np.array([1, 4, 0])
    assert hull.before(seg, start, np.array([0, 1, 2])).tolist() == [1, 3, 0]  # the start, the previous segment's end, the start
