from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.features.manifest import Feature
from offerwise.model.tensors import Encoders, _codes, _hashed_codes, _splitmix64, pair_major, to_tensors


def test_splitmix64_matches_the_reference_sequence() -> None:
    # SplitMix64 seeded with 0: its first output is the finaliser of 0 + the golden gamma.
    assert int(_splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("values", [[5, 17, 5, None, 2_000_000_000_123], ["a", "b", "a", None, "new consumer"]])
def test_hashed_codes_depend_only_on_the_value(values: list) -> None:
    codes = _hashed_codes(pl.Series(values), 8)
    assert codes[3] == 0  # null: the unknown code
    assert codes[0] == codes[2] and ((codes[[0, 1, 2, 4]] >= 1) & (codes[[0, 1, 2, 4]] <= 8)).all()
    alone = _hashed_codes(pl.Series(values[4:]), 8)  # a new consumer scored on its own gets the same bucket
    assert alone[0] == codes[4]


def test_hashed_codes_spread_over_the_buckets() -> None:
    counts = np.bincount(_hashed_codes(pl.Series(np.arange(20_000)), 16), minlength=17)
    assert counts[0] == 0 and counts[1:].min() > 1_000  # ~1,250 each


def _frame() -> tuple[pl.DataFrame, list[Feature]]:
    frame = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3, 3],
            "item_id": [7, 7, 7, 7, 8, 8],
            "category": ["A"] * 6,
            "relevant_from_fold": [0] * 6,
            "period": [0, 1] * 3,
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "target": [0, 1, 1, 0, 0, 1],
        }
    )
    features = [
        Feature("x", "lag", "temporal_continuous", "float32", "x"),
        Feature("customer_id", "attribute", "static_categorical", "int64", "id", is_id=True),
        Feature("item_id", "attribute", "static_categorical", "int64", "id", is_id=True),
    ]
    return frame, features


def test_encoders_hash_drop_or_keep_the_consumer_id() -> None:
    frame, features = _frame()
    train = pl.col("period") == 0
    kept = Encoders.fit(frame, features, train)
    assert kept.cardinalities(["customer_id"]) == (4,) and kept.hashed == {}
    hashed = Encoders.fit(frame, features, train, hashed={"customer_id": 32})
    assert hashed.cardinalities(["customer_id", "item_id"]) == (33, 3) and "customer_id" not in hashed.levels
    t = to_tensors(frame.with_columns(pl.col("customer_id") + 100), hashed)  # consumers never seen: still a bucket each
    assert (t.scat[:, 0] >= 1).all() and (t.scat[:, 1] >= 1).all()
    dropped = Encoders.fit(frame, features, train, hashed={"customer_id": 0})
    assert dropped.static_categorical == ["item_id"]
    restored = Encoders(**hashed.to_dict())
    np.testing.assert_array_equal(to_tensors(frame, restored).scat, to_tensors(frame, hashed).scat)


def test_encoders_reject_negative_buckets() -> None:
    frame, features = _frame()
    with pytest.raises(ValueError, match="buckets of 'customer_id' must be"):
        Encoders.fit(frame, features, pl.col("period") == 0, hashed={"customer_id": -1})


def test_clip_bounds_standardised_inputs_and_keeps_the_rest() -> None:
    frame, features = _frame()
    frame = frame.with_columns(x=pl.Series([1.0, 1.0, 1.0, 1.0, 1.0, 1_000.0]))  # one row far out
    plain = to_tensors(frame, Encoders.fit(frame, features, pl.lit(True)))
    clipped_enc = Encoders.fit(frame, features, pl.lit(True), clip=1.5)
    clipped = to_tensors(frame, clipped_enc)
    assert plain.tc.max() > 2.0 and clipped.tc.max() == pytest.approx(1.5)
    np.testing.assert_allclose(clipped.tc.ravel()[:5], plain.tc.ravel()[:5])  # inside the bounds: unchanged
    assert Encoders(**clipped_enc.to_dict()).clip == 1.5
    with pytest.raises(ValueError, match="'clip' parameter of Encoders.fit must be None or > 0"):
        Encoders.fit(frame, features, pl.lit(True), clip=0.0)


def test_linear_columns_are_never_clipped() -> None:
    """The offer term's input must stay linear in the offer: a clipped offer would flatten every
    counterfactual curve beyond the clip."""
    frame, features = _frame()
    frame = frame.with_columns(x=pl.Series([1.0, 1.0, 1.0, 1.0, 1.0, 1_000.0]), z=pl.Series([1.0, 1.0, 1.0, 1.0, 1.0, 1_000.0]))
    features = [*features, Feature("z", "offer", "temporal_continuous", "float32", "z")]
    enc = Encoders.fit(frame, features, pl.lit(True), clip=1.5, linear=["z", "not_a_column"])
    t = to_tensors(frame, enc)
    x, z = t.tc[..., 0].ravel(), t.tc[..., 1].ravel()
    assert x.max() == pytest.approx(1.5) and z.max() > 2.0
    assert Encoders(**enc.to_dict()).linear == ["z"]


def test_pair_major_equals_a_sort_whether_the_frame_was_in_order_in_pair_blocks_or_neither() -> None:
    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(0, 30))
        frame = pl.DataFrame(
            {
                "customer_id": rng.integers(0, 3, n),
                "item_id": rng.integers(0, 3, n).astype(str),
                "period": rng.integers(0, 4, n),
                "x": rng.random(n),
            }
        ).unique(["customer_id", "item_id", "period"], keep="first", maintain_order=True)
        if trial % 3 == 1:
            frame = frame.sort("customer_id", "item_id", "period")
        if trial % 3 == 2:  # the panel's layout: pairs in blocks, by category first
            frame = frame.with_columns(category=pl.col("item_id").cast(pl.Int64) % 2).sort("category", "customer_id", "item_id", "period")
        assert pair_major(frame).equals(frame.sort("customer_id", "item_id", "period"))


@pytest.mark.parametrize(
    "values, dtype",
    [
        ([3, 1, None, 7, 3, 1], pl.Int64),  # 7: not a level
        (["b", None, "a", "z", "b"], pl.String),
        (["b", None, "a", "z", "b"], pl.Categorical),
        ([1.5, None, float("nan"), 2.0, 1.5], pl.Float64),
        ([True, False, None, True], pl.Boolean),
    ],
)
def test_codes_are_each_value_texts_position_among_the_levels(values: list, dtype) -> None:
    """Integer and categorical columns map their distinct values' text; the codes are the same as
    mapping every row's text: 1-based positions, 0 for a null or a level never seen."""
    levels = ["1", "3", "a", "b", "1.5", "NaN", "true"]
    frame = pl.DataFrame({"c": pl.Series(values, dtype=dtype)})
    texts = frame.get_column("c").cast(pl.String).to_list()
    expected = [0 if t is None or t not in levels else levels.index(t) + 1 for t in texts]
    assert _codes(frame, "c", levels).tolist() == expected
