import pytest
import torch

from textvae.core.errors import ConfigError
from textvae.image.run.config import load_image_config
from textvae.image.run.degrade import (
    HALVES,
    MASK_FILL,
    add_noise,
    degrade,
    degrade_fixed,
    downsample,
    encoder_input,
    half_masks,
    mask_half,
)


def test_noise_has_the_asked_std_and_is_clipped():
    x = torch.full((5, 1, 40, 40), 0.5)
    g = torch.Generator().manual_seed(3)
    small = add_noise(x, 0.1, g)  # 5 std from the edges: clipping never bites
    assert abs((small - x).mean().item()) < 0.005
    assert abs((small - x).std().item() - 0.1) < 0.005
    big = add_noise(torch.zeros(5, 1, 40, 40), 0.5, g)
    assert big.min().item() == 0.0 and big.max().item() <= 1.0
    # Half the draws fall below 0 and are clipped there.
    assert abs((big == 0).float().mean().item() - 0.5) < 0.03


def test_noise_is_deterministic_under_a_seed():
    x = torch.rand(3, 1, 9, 9)
    a = add_noise(x, 0.5, torch.Generator().manual_seed(7))
    b = add_noise(x, 0.5, torch.Generator().manual_seed(7))
    c = add_noise(x, 0.5, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_half_masks_hide_exactly_the_named_half():
    masks = half_masks(torch.arange(4), 10, 14)  # (4, 1, 10, 14)
    assert masks.shape == (4, 1, 10, 14)
    assert masks.flatten(1).sum(1).tolist() == [70, 70, 70, 70]  # half of 140
    top, bottom, left, right = masks[:, 0]
    assert HALVES == ("top", "bottom", "left", "right")
    assert top[:5].all() and not top[5:].any()
    assert bottom[5:].all() and not bottom[:5].any()
    assert left[:, :7].all() and not left[:, 7:].any()
    assert right[:, 7:].all() and not right[:, :7].any()
    odd = half_masks(torch.tensor([0, 2]), 9, 11)  # an odd side hides floor(side / 2)
    assert odd.flatten(1).sum(1).tolist() == [4 * 11, 9 * 5]


def test_mask_half_fills_the_hidden_half_and_keeps_the_rest():
    x = torch.rand(301, 1, 12, 12)
    masked, hidden = mask_half(x, torch.Generator().manual_seed(0))
    assert hidden.flatten(1).sum(1).eq(72).all()  # exactly half of each image
    assert (masked[hidden.expand_as(x)] == MASK_FILL).all()
    assert torch.equal(masked[~hidden.expand_as(x)], x[~hidden.expand_as(x)])
    # Every half is drawn, about a quarter of the time each.
    kinds = {tuple(h[0, :, 0].tolist() + h[0, 0, :].tolist()) for h in hidden}
    assert len(kinds) == 4


def test_downsample_averages_2x2_blocks():
    x = torch.tensor([[0.0, 1.0, 0.2, 0.2],
                      [0.5, 0.5, 0.2, 0.6],
                      [1.0, 1.0, 0.0, 0.0],
                      [1.0, 1.0, 0.0, 0.4]]).view(1, 1, 4, 4)
    small = downsample(x)
    assert torch.allclose(small.view(2, 2), torch.tensor([[0.5, 0.3], [1.0, 0.1]]))
    assert downsample(torch.rand(5, 3, 14, 10)).shape == (5, 3, 7, 5)
    with pytest.raises(ConfigError, match="even image sides"):
        downsample(torch.rand(1, 1, 9, 10))


def test_degrade_gives_the_encoder_a_full_size_image():
    x = torch.rand(3, 1, 12, 12)
    g = torch.Generator().manual_seed(1)
    low = degrade(x, "downsample", generator=g)
    assert low.observed.shape == (3, 1, 6, 6) and low.encoder_input.shape == (3, 1, 12, 12)
    # Nearest neighbour: each low-resolution pixel fills a 2x2 block.
    assert torch.equal(low.encoder_input[:, :, ::2, ::2], low.observed)
    assert torch.equal(low.encoder_input[:, :, 1::2, 1::2], low.observed)
    assert torch.equal(encoder_input(low.observed, "downsample"), low.encoder_input)
    assert degrade(x, "mask", generator=g).hidden.shape == (3, 1, 12, 12)
    assert degrade(x, "noise", generator=g).hidden is None
    assert torch.equal(degrade(x, "none").encoder_input, x)
    with pytest.raises(ConfigError, match="unknown degradation 'blur'"):
        degrade(x, "blur")


def test_degrade_fixed_is_reproducible():
    x = torch.rand(13, 1, 8, 8)
    a = degrade_fixed(x, "mask", seed=5, chunk=4)
    b = degrade_fixed(x, "mask", seed=5, chunk=4)
    assert torch.equal(a.observed, b.observed) and torch.equal(a.hidden, b.hidden)
    assert a.hidden.shape == (13, 1, 8, 8)


def test_config_validates_the_degradation():
    cfg = load_image_config(None, ["data.degrade=noise", "data.noise_std=0.3"])
    assert cfg.data.degrade == "noise" and cfg.data.noise_std == 0.3
    with pytest.raises(ConfigError, match="noise_std"):
        load_image_config(None, ["data.noise_std=0"])
    with pytest.raises(ConfigError, match="degrade"):
        load_image_config(None, ["data.degrade=blur"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
@pytest.mark.parametrize("kind", ["noise", "mask", "downsample"])
def test_on_cuda_degradations_stay_on_the_device_and_follow_the_seed(kind):
    x = torch.rand(5, 1, 12, 12, device="cuda")

    def draw(seed):
        return degrade(x, kind, generator=torch.Generator(device="cuda").manual_seed(seed))

    first = draw(3)
    assert first.observed.device.type == "cuda" and first.encoder_input.shape == x.shape
    assert torch.equal(first.encoder_input, draw(3).encoder_input)
