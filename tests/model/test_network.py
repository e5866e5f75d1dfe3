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
