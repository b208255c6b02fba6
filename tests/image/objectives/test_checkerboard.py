import pytest
import torch

from textvae.image.objectives.checkerboard import checkerboard_score, stride_energy_share


def _smooth(n: int = 7, side: int = 12) -> torch.Tensor:
    """Gaussian blobs at different places: (n, 1, side, side), nothing near the stride bins."""
    grid = torch.arange(side, dtype=torch.float64)
    centres = torch.linspace(3.0, side - 4.0, n)
    rows = (-(grid.view(1, -1, 1) - centres.view(-1, 1, 1)) ** 2 / 8).exp()
    cols = (-(grid.view(1, 1, -1) - centres.flip(0).view(-1, 1, 1)) ** 2 / 8).exp()
    return (rows * cols).unsqueeze(1).float()


def _checkerboard(side: int = 12) -> torch.Tensor:
    i = torch.arange(side)
    return ((i.view(-1, 1) + i.view(1, -1)) % 2).float().view(1, 1, side, side)


def test_a_checkerboard_puts_all_its_energy_at_the_stride_frequency():
    assert stride_energy_share(_checkerboard()) == pytest.approx(1.0)
    stripes = (torch.arange(12) % 2).float().view(1, 1, 1, 12).expand(1, 1, 12, 12)
    assert stride_energy_share(stripes) == pytest.approx(1.0)  # the (0, N/2) bin


def test_a_smooth_image_has_almost_none():
    assert stride_energy_share(_smooth()) < 1e-3


def test_score_is_one_for_the_data_and_high_with_artefacts():
    data = _smooth()
    assert checkerboard_score(data, data) == pytest.approx(1.0)
    artefacts = 0.9 * data + 0.1 * _checkerboard()
    assert checkerboard_score(artefacts, data) > 10
    # Stride 4 also counts the period-4 bins; a period-2 pattern is on that grid too.
    assert checkerboard_score(artefacts, data, stride=4) > 1


def test_stride_must_divide_the_side():
    with pytest.raises(ValueError, match="not divisible"):
        stride_energy_share(torch.rand(2, 1, 9, 9))
