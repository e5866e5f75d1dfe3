from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_series_equal

from offerwise.config import SimulationConfig
from offerwise.data import choice
from offerwise.data.choice import ChoiceWorld
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import choice_world, write_simulation

# Consumer 1: three Meat items and one Dairy item; consumer 2: one Meat item. Dairy is related to Meat.
FRAME = pl.DataFrame(
    {
        "customer_id": [1, 1, 1, 1, 2],
        "item_id": [10, 11, 12, 20, 10],
        "category": ["Meat", "Meat", "Meat", "Dairy", "Meat"],
        "true_a": [0.04, 0.03, 0.05, 0.02, 0.04],
        "true_b": [-2.0, -2.5, -1.5, -2.2, -3.0],
        "none": [0.0] * 5,
        "offer": [30.0, 0.0, 0.0, 0.0, 0.0],
    }
)
CATEGORIES = ["Dairy", "Meat"]
WEIGHTS = np.array([[0.0, 0.8], [0.5, 0.0]])  # (Dairy, Meat) rows: category, columns: related category


def _p(frame: pl.DataFrame, offer: str = "offer", *, expansion: float = 0.5, cross: float = 0.0) -> np.ndarray:
    kwargs = {"expansion": expansion, "cross": cross, "weights": WEIGHTS, "categories": CATEGORIES}
    return choice.plan_probability(frame, offer, **kwargs).to_numpy()


def _incidence(p: np.ndarray, frame: pl.DataFrame = FRAME) -> dict[tuple[int, str], float]:
    sums = frame.with_columns(p=pl.Series(p)).group_by("customer_id", "category").agg(pl.col("p").sum())
    return {(c, k): v for c, k, v in sums.iter_rows()}


def test_group_probabilities_sum_to_the_incidence_below_one() -> None:
    frame = FRAME.with_columns(true_b=pl.col("true_b") + 3.0)  # popular items: the sum would pass 1 if independent
    p = _p(frame, expansion=1.0)
    b = frame.get_column("true_b").to_numpy()[:3]
    s0 = np.exp(b).sum()
    assert p[:3].sum() < 1 and _incidence(p, frame)[(1, "Meat")] == pytest.approx(p[:3].sum())
    # λ = 1 is a plain MNL with an outside option: p_i = exp(u_i) / (1 + S).
    u = b + frame.get_column("true_a").to_numpy()[:3] * np.array([30.0, 0, 0])
    assert np.allclose(p[:3], np.exp(u) / (1 + np.exp(u).sum()))
    assert np.allclose(_p(frame, "none", expansion=1.0)[:3], np.exp(b) / (1 + s0))


def test_an_offer_raises_its_item_and_lowers_the_others_in_its_group() -> None:
    before, after = _p(FRAME, "none"), _p(FRAME)
    assert after[0] > before[0]
    assert (after[1:3] < before[1:3]).all()
    assert after[3] == pytest.approx(before[3]) and after[4] == pytest.approx(before[4])  # other groups, no cross term


def test_incidence_rises_with_the_offer_less_with_modest_expansion() -> None:
    rise = {}
    for expansion in (0.5, 1.0):
        before, after = _incidence(_p(FRAME, "none", expansion=expansion)), _incidence(_p(FRAME, expansion=expansion))
        rise[expansion] = after[(1, "Meat")] - before[(1, "Meat")]
        assert before[(1, "Meat")] == pytest.approx(_incidence(_p(FRAME, "none", expansion=1.0))[(1, "Meat")])
    assert 0 < rise[0.5] < rise[1.0]


def test_the_cross_term_lowers_a_related_categorys_incidence() -> None:
    plain = _incidence(_p(FRAME, cross=0.0))[(1, "Dairy")]
    crossed = _incidence(_p(FRAME, cross=1.0))[(1, "Dairy")]
    untouched = _incidence(_p(FRAME, "none", cross=1.0))[(1, "Dairy")]
    assert crossed < plain == pytest.approx(untouched)


def test_draws_buy_at_most_once_per_group_at_the_probabilities() -> None:
    prob = np.array([0.2, 0.3, 0.1, 0.6, 0.25])  # groups 0 (three items), 1, 2
    group = np.array([0, 0, 0, 1, 2])
    n = 4000
    rng = np.random.default_rng(0)
    draws = np.array([choice.draw_choices(prob, group, rng) for _ in range(n)])  # (n, pairs)
    per_group = np.stack([draws[:, group == g].sum(axis=1) for g in range(3)], axis=1)
    assert per_group.max() == 1
    se = np.sqrt(prob * (1 - prob) / n)
    assert np.all(np.abs(draws.mean(axis=0) - prob) < 6 * se)  # fixed seed: deterministic, and 6 SE wide


def test_draws_keep_the_order_of_unsorted_groups() -> None:
    prob = np.array([0.0, 1.0, 0.0, 0.0])
    bought = choice.draw_choices(prob, np.array([1, 0, 1, 0]), np.random.default_rng(1))
    assert bought.tolist() == [False, True, False, False]
    assert choice.draw_choices(np.zeros(0), np.zeros(0, dtype=np.int64), np.random.default_rng(1)).size == 0


def test_one_at_a_time_equals_the_plan_when_only_one_offer_differs() -> None:
    world = ChoiceWorld(True, 0.6, 0.7, {("Dairy", "Meat"): 0.8, ("Meat", "Dairy"): 0.5})
    frame = FRAME.with_columns(reference=pl.Series([10.0, 20.0, 0.0, 15.0, 5.0]))
    moved = choice.one_at_a_time_probability(frame.with_columns(new=pl.col("reference") + 25), "new", "reference", world)
    for row in range(frame.height):
        only = frame.with_columns(plan=pl.when(pl.int_range(pl.len()) == row).then(pl.col("reference") + 25).otherwise("reference"))
        assert moved[row] == pytest.approx(choice.true_probability_under(only, "plan", world)[row], rel=1e-12)


def test_without_substitution_the_world_is_the_sigmoid() -> None:
    expected = pl.Series("true_probability", 1 / (1 + np.exp(-(FRAME["true_a"] * FRAME["offer"] + FRAME["true_b"]).to_numpy())))
    assert_series_equal(choice.true_probability_under(FRAME, "offer", ChoiceWorld()), expected)
    assert_series_equal(choice.one_at_a_time_probability(FRAME, "offer", "none", ChoiceWorld()), expected)


def test_bad_arguments_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="'expansion'.*Got 0"):
        ChoiceWorld(True, 0.0)
    with pytest.raises(ValueError, match="Missing \\['true_b'\\]"):
        choice.true_probability_under(FRAME.drop("true_b"), "offer", ChoiceWorld())
    with pytest.raises(ValueError, match="'categories'.*\\['Meat'\\]"):
        choice.plan_probability(FRAME, "offer", expansion=0.5, cross=0.0, weights=WEIGHTS[:1, :1], categories=["Dairy"])


def test_related_categories_has_one_or_two_per_row_and_no_diagonal() -> None:
    weights = choice.related_categories(6, np.random.default_rng(3))
    assert np.all(np.diag(weights) == 0)
    assert set((weights > 0).sum(axis=1)) <= {1, 2}
    assert weights[weights > 0].min() >= 0.3 and weights.max() <= 1


# The simulator with substitution on, and unchanged with it off.

SUBSTITUTION = SimulationConfig(customers=200, items=60, weeks=20, categories=3, seed=4, substitution=True, cross_category=0.5)


def test_a_substitution_simulation_buys_once_per_category_at_most(tmp_path: Path) -> None:
    sim = simulate(SUBSTITUTION)
    groups = sim.ground_truth.group_by("customer_id", "category", "period_start").agg(
        p=pl.col("true_probability").sum(), bought=pl.col("purchased").sum()
    )
    assert groups.get_column("p").max() <= 1 and groups.get_column("bought").max() == 1
    future = sim.future_truth.group_by("customer_id", "category").agg(p=pl.col("true_probability").sum())
    assert future.get_column("p").max() <= 1
    # The truth files give back the simulator's joint probabilities.
    write_simulation(sim, tmp_path, SUBSTITUTION)
    world = choice_world(tmp_path)
    assert world.substitution and world.cross == 0.5 and world.weights
    assert pl.read_csv(tmp_path / "ground_truth_cross.csv").columns == ["category", "related_category", "weight"]
    again = choice.true_probability_under(sim.future_truth, "offer_pct", world)
    assert np.allclose(again.to_numpy(), sim.future_truth.get_column("true_probability").to_numpy(), rtol=1e-12)
    last = sim.ground_truth.filter(pl.col("period_start") == pl.col("period_start").max())
    again = choice.true_probability_under(last, "offer_pct", world)
    assert np.allclose(again.to_numpy(), last.get_column("true_probability").to_numpy(), rtol=1e-12)


def test_without_substitution_the_simulation_is_the_one_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("substitution=False must not use the nested logit")

    monkeypatch.setattr(choice, "nested_probability", refuse)
    monkeypatch.setattr(choice, "draw_choices", refuse)
    cfg = SUBSTITUTION.model_copy(update={"substitution": False})
    sim = simulate(cfg)
    truth = pl.concat([sim.ground_truth.select(sim.future_truth.columns), sim.future_truth])
    a, o, b = (truth.get_column(c).to_numpy() for c in ("true_a", "offer_pct", "true_b"))
    old = 1 / (1 + np.exp(-(a * o + b)))  # the formula at HEAD before substitution, bit for bit
    assert np.array_equal(truth.get_column("true_probability").to_numpy(), old)
    write_simulation(sim, tmp_path, cfg)
    assert not (tmp_path / "ground_truth_cross.csv").exists() and choice_world(tmp_path) == ChoiceWorld()
    assert choice_world(tmp_path / "not-a-simulation") is None
