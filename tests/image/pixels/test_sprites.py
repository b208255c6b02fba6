import math

import pytest
import torch

from textvae.image.pixels.sprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    SHAPES,
    factor_values,
    make_sprites,
    render,
    sample_factors,
)

SHAPE, SCALE, ORIENT, POS_X, POS_Y = range(5)


def one(shape=0, scale=3, orientation=0, pos_x=15, pos_y=17):
    return torch.tensor([[shape, scale, orientation, pos_x, pos_y]])


def centre_of_mass(image):
    # image: (1, H, W) -> (row, column) of the mean lit pixel
    rows, cols = image[0].nonzero(as_tuple=True)
    return rows.float().mean().item(), cols.float().mean().item()


def test_constants_agree():
    assert len(FACTOR_NAMES) == len(FACTOR_SIZES) == 5
    assert FACTOR_SIZES[0] == len(SHAPES) == 3


def test_make_sprites_shapes_dtypes_and_binary_values():
    images, factors = make_sprites(37, seed=3)
    assert images.shape == (37, 1, 64, 64) and images.dtype == torch.float32
    assert factors.shape == (37, 5) and factors.dtype == torch.int64
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    assert (images.sum(dim=(1, 2, 3)) > 20).all()  # every sprite is visible
    assert torch.equal(images, render(factors))


def test_make_sprites_is_deterministic_in_seed():
    a_img, a_fac = make_sprites(11, seed=5)
    b_img, b_fac = make_sprites(11, seed=5)
    c_img, c_fac = make_sprites(11, seed=6)
    assert torch.equal(a_img, b_img) and torch.equal(a_fac, b_fac)
    assert not torch.equal(a_fac, c_fac)


def test_sample_factors_covers_the_grid():
    factors = sample_factors(4001, generator=torch.Generator().manual_seed(0))
    for k, size in enumerate(FACTOR_SIZES):
        assert factors[:, k].min() == 0 and factors[:, k].max() == size - 1


def test_factor_values_are_the_physical_values():
    factors = torch.tensor([[0, 0, 0, 0, 0], [2, 5, 10, 31, 31], [1, 1, 39, 16, 3]])
    values = factor_values(factors)
    expected = torch.tensor(
        [
            [0.0, 0.5, 0.0, 0.0, 0.0],
            [2.0, 1.0, math.pi / 2, 1.0, 1.0],
            [1.0, 0.6, 39 * 2 * math.pi / 40, 16 / 31, 3 / 31],
        ]
    )
    assert torch.allclose(values, expected)


def test_each_shape_gives_different_pixels():
    images = render(torch.cat([one(shape=s) for s in range(3)]))
    for a in range(3):
        for b in range(a + 1, 3):
            assert (images[a] != images[b]).sum() > 30


def test_bigger_scale_lights_more_pixels():
    for shape in range(3):
        images = render(torch.cat([one(shape=shape, scale=s, orientation=7) for s in range(6)]))
        counts = images.sum(dim=(1, 2, 3))
        assert (counts[1:] > counts[:-1]).all(), (SHAPES[shape], counts)
        # area grows with scale squared: scale 1.0 against 0.5 is about 4x
        assert 3.3 < counts[-1] / counts[0] < 4.8


def test_translation_moves_the_centre_of_mass():
    base = centre_of_mass(render(one(shape=1))[0])
    right = centre_of_mass(render(one(shape=1, pos_x=25))[0])
    down = centre_of_mass(render(one(shape=1, pos_y=29))[0])
    # pos_x moves columns only, pos_y moves rows (downwards) only; 10 steps are 0.6 * 64 * 10 / 31
    step = 0.6 * 64 / 31
    assert right[1] - base[1] == pytest.approx(10 * step, abs=1.0)
    assert right[0] == pytest.approx(base[0], abs=0.5)
    assert down[0] - base[0] == pytest.approx(12 * step, abs=1.0)
    assert down[1] == pytest.approx(base[1], abs=0.5)


def test_quarter_turn_keeps_a_square_and_turns_an_ellipse():
    # 10 of 40 orientation steps is 2pi / 4
    square = render(torch.cat([one(shape=0, orientation=0), one(shape=0, orientation=10)]))
    assert (square[0] != square[1]).sum() <= 0.05 * square[0].sum()
    ellipse = render(torch.cat([one(shape=1, orientation=0), one(shape=1, orientation=10)]))
    assert (ellipse[0] != ellipse[1]).sum() > 0.5 * ellipse[0].sum()
    # the upright ellipse is wide, the turned one tall
    rows, cols = ellipse[0, 0].nonzero(as_tuple=True)
    assert cols.max() - cols.min() > 1.5 * (rows.max() - rows.min())
    rows, cols = ellipse[1, 0].nonzero(as_tuple=True)
    assert rows.max() - rows.min() > 1.5 * (cols.max() - cols.min())


def test_heart_is_not_symmetric_top_to_bottom_but_is_left_to_right():
    heart = render(one(shape=2, scale=5, pos_x=16, pos_y=16))[0, 0]
    rows, cols = heart.nonzero(as_tuple=True)
    box = heart[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert (box != box.flip(0)).sum() > 0.2 * box.sum()
    assert (box != box.flip(1)).sum() <= 0.1 * box.sum()
    # the lobes are up: the top half of the box holds more of the heart than the bottom half
    half = box.shape[0] // 2
    assert box[:half].sum() > 1.3 * box[-half:].sum()


def test_half_turn_flips_the_heart():
    upright, turned = one(shape=2, scale=5), one(shape=2, scale=5, orientation=20)
    hearts = render(torch.cat([upright, turned]))
    top, _ = centre_of_mass(hearts[0])
    turned, _ = centre_of_mass(hearts[1])
    assert turned > top + 1  # lobes now point down, so the mass sits lower


@pytest.mark.parametrize(
    "column, value", [(SHAPE, 3), (SCALE, 6), (ORIENT, 40), (POS_X, 32), (POS_Y, -1)]
)
def test_out_of_range_factor_names_the_factor(column, value):
    factors = one()
    factors[0, column] = value
    with pytest.raises(ValueError, match=FACTOR_NAMES[column]):
        render(factors)
    with pytest.raises(ValueError, match=FACTOR_NAMES[column]):
        factor_values(factors)


def test_bad_factor_tensors_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        render(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        render(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="n must be"):
        sample_factors(-1)


def test_rendering_in_chunks_matches_rendering_one_at_a_time():
    # 2,500 sprites cross two of render's internal chunk boundaries (1,024 images each). Speed is
    # not tested here (0.78 s per 20,000 sprites on one thread, measured; docs/images.md).
    factors = sample_factors(2500, generator=torch.Generator().manual_seed(1))
    images = render(factors)
    assert images.shape == (2500, 1, 64, 64)
    for i in (0, 1023, 1024, 2047, 2048, 2499):
        assert torch.equal(images[i], render(factors[i : i + 1])[0])
