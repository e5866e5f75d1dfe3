from __future__ import annotations

import torch

from offerwise.model.network import NetworkShape, TCNNetwork

SHAPE = NetworkShape(temporal_continuous=3, static_continuous=2, temporal_cardinalities=(5,), static_cardinalities=(7, 4))


def _inputs(B: int = 4, T: int = 12) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(B, T, 3, generator=g),
        torch.randint(0, 5, (B, T, 1), generator=g),
        torch.randn(B, 2, generator=g),
        torch.randint(0, 4, (B, 2), generator=g),
    )


def test_receptive_field_is_causal() -> None:
    torch.manual_seed(0)
    net = TCNNetwork(SHAPE, channels=8, dilations=(1, 2, 4), kernel_size=3, dropout=0.0).eval()
    tc, tcat, sc, scat = _inputs()
    base = net(tc, tcat, sc, scat)
    t = 6
    tc2 = tc.clone()
    tc2[:, t, :] += 5.0  # change one input step
    moved = (net(tc2, tcat, sc, scat) - base).abs().amax(dim=0)
    assert torch.all(moved[:t] == 0), "an output before t saw the future"
    assert moved[t] > 0, "the output at t must see its own inputs"
    # Receptive field: 1 + 2 * (kernel - 1) * sum(dilations) = 29 steps, so all later outputs move too.
    assert torch.all(moved[t:] > 0)


def test_output_shape_is_one_logit_per_period() -> None:
    net = TCNNetwork(SHAPE, channels=4, dilations=(1,), hidden=(8, 4, 2))
    assert net(*_inputs(B=3, T=9)).shape == (3, 9)


def test_offer_term_starts_at_zero_and_adds_slope_times_offer_at_each_period() -> None:
    shape = NetworkShape(
        temporal_continuous=3, static_continuous=2, temporal_cardinalities=(5,), static_cardinalities=(7, 4), offer_index=1
    )
    torch.manual_seed(0)
    with_term = TCNNetwork(shape, channels=4, dilations=(1, 2), dropout=0.0, offer_term=True).eval()
    without = TCNNetwork(shape, channels=4, dilations=(1, 2), dropout=0.0, offer_term=False).eval()
    without.load_state_dict({k: v for k, v in with_term.state_dict().items() if not k.startswith("offer_slope")})
    tc, tcat, sc, scat = _inputs()
    with torch.no_grad():
        assert torch.equal(with_term(tc, tcat, sc, scat), without(tc, tcat, sc, scat))  # no offer effect assumed at start
        with_term.offer_slope.bias.fill_(0.5)
        with_term.offer_slope.weight[0, 0] = 0.25  # the slope varies with a static input
        slope = 0.5 + 0.25 * sc[:, :1]
        expected = without(tc, tcat, sc, scat) + slope * tc[..., 1]
        assert torch.allclose(with_term(tc, tcat, sc, scat), expected, atol=1e-6)


def test_column_logits_equal_full_rescoring_at_the_columns_and_for_every_variant() -> None:
    shape = NetworkShape(
        temporal_continuous=3, static_continuous=2, temporal_cardinalities=(5,), static_cardinalities=(7, 4), offer_index=1
    )
    torch.manual_seed(1)
    net = TCNNetwork(shape, channels=6, dilations=(1, 2, 4), kernel_size=3, dropout=0.0, offer_term=True).eval()
    with torch.no_grad():
        net.offer_slope.bias.fill_(0.3)
    tc, tcat, sc, scat = _inputs(B=5, T=7)  # shorter than the receptive field: left padding matters
    with torch.no_grad():
        full = net(tc, tcat, sc, scat)
    at = 4  # a period before the last: later periods must not leak into it
    variants = [(tc[:, at, :] + shift, (tcat[:, at, :] + shift_cat) % 5) for shift, shift_cat in ((-2.0, 0), (0.0, 1), (1.5, 3))]
    observed, varied = net.column_logits(tc, tcat, sc, scat, [2, at, 6], [(at, variants)])
    assert torch.allclose(observed, full[:, [2, at, 6]], atol=1e-5)
    assert varied.shape == (5, 3)
    for g, (tc_at, tcat_at) in enumerate(variants):
        changed, changed_cat = tc.clone(), tcat.clone()
        changed[:, at, :], changed_cat[:, at, :] = tc_at, tcat_at
        with torch.no_grad():
            assert torch.allclose(varied[:, g], net(changed, changed_cat, sc, scat)[:, at], atol=1e-5)


def test_variants_at_several_columns_come_side_by_side_as_each_alone() -> None:
    shape = NetworkShape(
        temporal_continuous=3, static_continuous=2, temporal_cardinalities=(5,), static_cardinalities=(7, 4), offer_index=1
    )
    torch.manual_seed(2)
    net = TCNNetwork(shape, channels=6, dilations=(1, 2, 4), kernel_size=3, dropout=0.0, offer_term=True).eval()
    tc, tcat, sc, scat = _inputs(B=5, T=7)
    first = [(tc[:, 3, :] + 1.0, tcat[:, 3, :])]
    second = [(tc[:, 6, :] + shift, tcat[:, 6, :]) for shift in (-1.0, 2.0)]
    observed, both = net.column_logits(tc, tcat, sc, scat, [3, 6], [(3, first), (6, second)])
    alone = [net.column_logits(tc, tcat, sc, scat, [3, 6], [(at, v)])[1] for at, v in ((3, first), (6, second))]
    assert both.shape == (5, 3)
    assert torch.allclose(both, torch.cat(alone, dim=1))
    assert torch.equal(observed, net.column_logits(tc, tcat, sc, scat, [3, 6])[0])
