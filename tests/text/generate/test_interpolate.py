"""Latent paths for interpolation."""

import pytest
import torch

from textvae.text.generate import DecodingError, interpolation_path

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


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_a_path_computed_in_slices_is_the_whole_path(path):
    a, b = latents(rows=2)
    whole = interpolation_path(a, b, steps=23, path=path)
    for size in (1, 4, 7):
        parts = [interpolation_path(a, b, steps=23, path=path, start=s, stop=min(s + size, 23))
                 for s in range(0, 23, size)]
        assert torch.allclose(torch.cat(parts), whole, atol=1e-6)
    assert torch.equal(parts[0][0], a) and torch.equal(parts[-1][-1], b)  # exact endpoints
    # t_i = i / (S - 1), the same in any slice
    middle = interpolation_path(a, b, steps=5, path="linear", start=2, stop=3)
    assert torch.allclose(middle[0], (a + b) / 2, atol=1e-6)
    assert interpolation_path(a, b, steps=23, path=path, start=9, stop=9).shape == (0, Z)


@pytest.mark.parametrize("start, stop", [(-1, 3), (4, 3), (0, 24), (1.5, 3)])
def test_interpolation_path_rejects_bad_slices(start, stop):
    a, b = latents(rows=2)
    with pytest.raises(DecodingError, match="start and stop"):
        interpolation_path(a, b, steps=23, start=start, stop=stop)
