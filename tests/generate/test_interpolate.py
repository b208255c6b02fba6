"""Latent paths for interpolation."""

import pytest
import torch

from textvae.generate import DecodingError, interpolation_path

from .helpers import Z, latents


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_interpolation_path_has_exact_endpoints(path):
    a, b = latents(rows=2)
    points = interpolation_path(a, b, steps=9, path=path)
    assert points.shape == (9, Z)
    assert torch.equal(points[0], a) and torch.equal(points[-1], b)


def test_linear_path_is_evenly_spaced_and_slerp_keeps_equal_norms():
    a, b = latents(rows=2)
    linear = interpolation_path(a, b, steps=5, path="linear")
    assert torch.allclose(linear[2], (a + b) / 2, atol=1e-6)
    assert torch.allclose(linear[1:] - linear[:-1], ((b - a) / 4).expand(4, -1), atol=1e-6)
    b = b * a.norm() / b.norm()
    slerp = interpolation_path(a, b, steps=6, path="slerp")
    assert torch.allclose(slerp.norm(dim=1), a.norm().expand(6), atol=1e-5)
    # Parallel endpoints: slerp falls back to the linear path instead of dividing by sin(0).
    assert torch.allclose(interpolation_path(a, 2 * a, steps=3, path="slerp")[1], 1.5 * a)


@pytest.mark.parametrize("steps, path", [(1, "linear"), (0, "slerp"), (4, "bezier")])
def test_interpolation_path_rejects_bad_options(steps, path):
    a, b = latents(rows=2)
    with pytest.raises(DecodingError):
        interpolation_path(a, b, steps=steps, path=path)
