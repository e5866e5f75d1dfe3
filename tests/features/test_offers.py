"""The inferred offer (offerwise.features.offers)."""

from __future__ import annotations

import numpy as np

from offerwise.features.offers import offer_matrix


def _sums(disc: float, gross: float, clusters: float) -> dict[str, np.ndarray]:
    one = lambda v: np.array([[v]])  # noqa: E731  (1 row, 1 period)
    return {"disc": one(disc), "gross": one(gross), "dd": one(0.0), "dg": one(0.0), "gg": one(gross**2), "clusters": one(clusters)}


def test_the_rounding_residue_of_the_leave_one_out_subtraction_is_no_offer() -> None:
    """The other consumers paid no discount, but the item's total (0.1 + 0.2) less the own 0.3 leaves
    5.6e-17: an offer of 9e-16 % that the interaction features would count as an offer."""
    own_disc, own_gross = np.array([[0.3]]), np.array([[4.0]])
    assert (0.1 + 0.2) - 0.3 > 0  # the residue is there
    args = {"pair_item": np.array([0]), "pair_disc": own_disc, "pair_gross": own_gross, "pair_cat": np.array([0])}
    offer, _ = offer_matrix(
        item=_sums(0.1 + 0.2, 10.0, 3.0), cat=_sums(0.1 + 0.2, 10.0, 3.0), own_cat_disc=own_disc, own_cat_gross=own_gross, **args
    )
    assert offer[0, 0] == 0.0
    real, _ = offer_matrix(
        item=_sums(0.3 + 0.6, 10.0, 3.0), cat=_sums(0.9, 10.0, 3.0), own_cat_disc=own_disc, own_cat_gross=own_gross, **args
    )
    assert real[0, 0] == np.float32(100 * 0.6 / 6.0)  # a real discount of the others stays
