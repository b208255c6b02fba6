import math

import pytest
import torch

from textvae.image.objectives.disentangle import beta_vae_metric, mig
from textvae.image.pixels.sprites import FACTOR_SIZES, sample_factors

N = 3001
SIZES = (3, 7, 11, 5)  # a small grid with distinct sizes, for the pseudo-images below


def factors_and_noise(noise_dims=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    factors = sample_factors(N, generator=gen)  # (N, 5)
    noise = torch.randn(N, noise_dims, generator=gen)
    return factors, noise, gen


def as_codes(factors):
    # factor k -> code dimension k, scaled to [0, 1]
    return factors.double() / (torch.tensor(FACTOR_SIZES, dtype=torch.double) - 1)


def test_mig_of_the_factors_themselves_is_near_one():
    factors, noise, _ = factors_and_noise()
    codes = torch.cat([as_codes(factors), noise], dim=1)
    result = mig(codes, factors, bins=20)
    # 20 bins merge the 40 orientations and 32 positions in pairs, capping their normalised MI
    # near log 20 / log 40 = 0.81; shape and scale fit and come close to 1
    assert result["mig"] > 0.85
    assert all(g > 0.97 for g in result["per_factor"][:2])
    assert all(0.75 < g < 0.85 for g in result["per_factor"][2:])
    # with a bin for every value, only the small plug-in bias of the noise dimensions remains
    assert mig(codes, factors, bins=40)["mig"] > 0.95
    assert result["mi"].shape == (8, 5)
    assert result["bins"] == 20 and result["factors_used"] == [0, 1, 2, 3, 4]
    # the 3 shapes and 6 scales fit in 20 bins exactly, so I(z_k; v_k) = H(v_k) there
    for k in (0, 1):
        assert result["mi"][k, k] == pytest.approx(result["entropy"][k], rel=1e-9)
        assert result["entropy"][k] == pytest.approx(math.log(FACTOR_SIZES[k]), rel=0.02)


def test_mig_of_mixed_codes_is_clearly_lower():
    factors, _, gen = factors_and_noise()
    codes = as_codes(factors)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.double))
    aligned = mig(codes, factors)["mig"]
    mixed = mig(codes @ rotation, factors)["mig"]
    assert mixed < 0.5 * aligned


def test_mig_of_independent_codes_is_near_zero():
    factors, noise, _ = factors_and_noise(noise_dims=7)
    result = mig(noise, factors)
    assert 0 <= result["mig"] < 0.03
    assert result["mi"].shape == (7, 5)


def test_mig_gap_vanishes_for_a_duplicated_factor():
    factors, noise, _ = factors_and_noise()
    codes = as_codes(factors)
    # pos_x (factor 3) appears twice; everything else once
    result = mig(torch.cat([codes, codes[:, 3:4], noise], dim=1), factors)
    assert result["per_factor"][3] == pytest.approx(0.0, abs=1e-9)
    assert all(result["per_factor"][k] > 0.75 for k in (0, 1, 2, 4))


def test_mig_skips_a_constant_factor():
    factors, noise, _ = factors_and_noise()
    factors[:, 1] = 4
    result = mig(torch.cat([as_codes(factors), noise], dim=1), factors)
    assert math.isnan(result["per_factor"][1])
    assert result["factors_used"] == [0, 2, 3, 4]
    assert result["mig"] == pytest.approx(
        sum(result["per_factor"][k] for k in (0, 2, 3, 4)) / 4
    )


def test_mig_rejects_bad_input():
    factors, noise, _ = factors_and_noise()
    with pytest.raises(ValueError, match="same N"):
        mig(noise[:-1], factors)
    with pytest.raises(ValueError, match="at least 2"):
        mig(noise[:, :1], factors)
    with pytest.raises(ValueError, match="bins"):
        mig(noise, factors, bins=1)
    with pytest.raises(ValueError, match="single value"):
        mig(noise, torch.zeros(N, 2, dtype=torch.long))


def factor_render(factors):
    # a "renderer" whose images are the factors themselves: (M, F) -> (M, 1, 1, F)
    return factors.double().view(factors.shape[0], 1, 1, -1)


def perfect_encode(images):
    # recover the factors, scaled to [0, 1], and add two constant dimensions
    codes = images.flatten(1) / (torch.tensor(SIZES, dtype=torch.double) - 1)
    return torch.cat([codes, torch.zeros(codes.shape[0], 2, dtype=codes.dtype)], dim=1)


def test_beta_vae_metric_of_perfect_codes_is_near_one():
    result = beta_vae_metric(
        perfect_encode, SIZES, factor_render, n_train=501, n_test=301, batch_size=17, seed=3
    )
    assert result["accuracy"] > 0.97 and result["train_accuracy"] > 0.97
    assert (result["n_train"], result["n_test"], result["batch_size"]) == (501, 301, 17)
    assert result["factors_included"] == [0, 1, 2, 3]


def test_beta_vae_metric_of_independent_codes_is_near_chance():
    noise = torch.Generator().manual_seed(9)

    def encode(images):
        return torch.randn(images.shape[0], 7, generator=noise)

    result = beta_vae_metric(
        encode, SIZES, factor_render, n_train=501, n_test=401, batch_size=17, seed=3
    )
    assert result["accuracy"] < 0.25 + 0.1  # chance is 1 / 4


def test_beta_vae_metric_restricted_factors_and_determinism():
    calls = []

    def encode(images):
        calls.append(images.shape[0])
        return perfect_encode(images)

    kwargs = dict(n_train=101, n_test=53, batch_size=5, seed=1, factors_included=[1, 3])
    first = beta_vae_metric(encode, SIZES, factor_render, **kwargs)
    assert first["factors_included"] == [1, 3] and first["accuracy"] > 0.95
    # every encode call batches many pairs: 154 examples x 5 pairs x 2 images
    assert sum(calls) == 2 * 5 * 154 and len(calls) == 1
    assert beta_vae_metric(encode, SIZES, factor_render, **kwargs) == first


def test_beta_vae_metric_runs_on_rendered_sprites():
    # a crude hand-made encoder: lit-pixel count and centre of mass of the real sprites
    def encode(images):
        mass = images.sum(dim=(1, 2, 3))  # (M,)
        grid = torch.arange(64, dtype=images.dtype)
        rows = (images.sum(dim=(1, 3)) * grid).sum(1) / mass
        cols = (images.sum(dim=(1, 2)) * grid).sum(1) / mass
        return torch.stack([mass, rows, cols], dim=1)

    result = beta_vae_metric(encode, n_train=61, n_test=29, batch_size=7, seed=0)
    # pos_x, pos_y and scale are read off directly, so it beats chance (1 / 5) by far
    assert result["accuracy"] > 0.45


def test_beta_vae_metric_rejects_bad_arguments():
    with pytest.raises(ValueError, match="factors_included"):
        beta_vae_metric(perfect_encode, SIZES, factor_render, factors_included=[0, 4])
    with pytest.raises(ValueError, match="n_train"):
        beta_vae_metric(perfect_encode, SIZES, factor_render, n_train=0)
