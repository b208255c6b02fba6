"""textvae.text.models.parts: z's projection, whose added columns start at zero."""

import torch

from textvae.text.models.parts import LatentProjection

Z, P, ADDED = 7, 19, 5


def test_a_projection_that_adds_nothing_draws_as_nn_linear():
    torch.manual_seed(11)
    plain = torch.nn.Linear(Z, P)
    torch.manual_seed(11)
    projection = LatentProjection(Z, P)
    assert torch.equal(plain.weight, projection.weight) and torch.equal(plain.bias, projection.bias)


def test_the_added_columns_start_at_zero_and_the_rest_as_nn_linear():
    torch.manual_seed(11)
    plain = torch.nn.Linear(Z, P)
    torch.manual_seed(11)
    projection = LatentProjection(Z, P, added=ADDED)
    assert projection.weight.shape == (P, Z)
    assert not projection.weight[:ADDED].any() and not projection.bias[:ADDED].any()
    torch.testing.assert_close(projection.weight[ADDED:], plain.weight[ADDED:], rtol=0, atol=0)
    out = projection(torch.randn(3, Z))  # (B, P)
    assert not out[:, :ADDED].any() and out[:, ADDED:].abs().amax() > 0
