"""Disentanglement metrics: how well latent codes line up with known generative factors.

Both metrics are pure functions that return dicts of named numbers. The codes should be the
encoder means E_q[z|x] (not samples), one row per image.

Shapes: N = images, Z = latent size, F = factors, L = pairs per beta-VAE example (batch_size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from textvae.core.metrics import fit_linear_probe
from textvae.image.pixels.sprites import FACTOR_SIZES, render

# L2 penalty on the beta-VAE classifier's weights: the loss adds _L2 * ||W||^2. The classes are
# often separable, and without a penalty the weights would grow until the optimiser gives up;
# this keeps the optimum finite.
_L2 = 1e-4
# L-BFGS iterations of the classifier's fit.
_PROBE_ITERATIONS = 100
# Images per ``encode`` call in ``beta_vae_metric``, to bound memory (4096 x 64 x 64 floats is
# 64 MiB).
_ENCODE_CHUNK = 4096


def _discretise(codes: Tensor, bins: int) -> Tensor:
    # codes: (N, Z) -> (N, Z) bin index in [0, bins): equal-width bins over each column's range.
    low = codes.min(dim=0).values
    width = codes.max(dim=0).values - low
    # A constant column has zero width; put it all in bin 0 (it then carries no information).
    scaled = (codes - low) / torch.where(width > 0, width, torch.ones_like(width))
    return (scaled * bins).long().clamp_(0, bins - 1)


def mig(codes: Tensor, factors: Tensor, bins: int = 20) -> dict:
    """Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    The variant implemented is the histogram estimate (as in the large study of Locatello et al.
    2019), not Chen et al.'s sampling estimate of I(z_j; v_k) from q(z|x):

    1. Each code dimension z_j is cut into ``bins`` equal-width bins spanning its observed
       minimum to maximum over the N rows.
    2. For every code dimension j and factor k, I(z_j; v_k) is the plug-in mutual information of
       the joint histogram of (bin of z_j, value of v_k), in nats.
    3. Each I(z_j; v_k) is divided by the plug-in entropy H(v_k) of the factor, in nats.
    4. For each factor, the gap is the largest minus the second largest normalised MI over j.
    5. MIG is the mean gap over factors.

    A factor that takes a single value in ``factors`` has H(v_k) = 0 and is skipped: its gap is
    NaN in ``per_factor`` and it is left out of the mean. All other factors are included, shape as
    well as the continuous-valued ones. Plug-in estimates are biased upwards on small N, so even
    codes independent of the factors score slightly above 0.

    Args:
        codes: (N, Z) encoder means, Z >= 2.
        factors: (N, F) integer ground-truth factor values (any integers; each distinct value of
            a column is one class).
        bins: histogram bins per code dimension.

    Returns:
        ``mig`` (float in [0, 1]), ``per_factor`` (F floats, NaN where skipped), ``mi`` ((Z, F)
        tensor of unnormalised I(z_j; v_k) in nats), ``entropy`` (F factor entropies in nats),
        ``factors_used`` (indices of the factors averaged) and ``bins``.

    Raises:
        ValueError: on mismatched or malformed shapes, Z < 2, bins < 2 or all factors constant.
    """
    if codes.dim() != 2 or factors.dim() != 2 or codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"codes must be (N, Z) and factors (N, F) with the same N, got "
            f"{tuple(codes.shape)} and {tuple(factors.shape)}"
        )
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions for a gap, got {codes.shape[1]}")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if factors.dtype.is_floating_point:
        raise ValueError(f"factors must be integer values, got dtype {factors.dtype}")
    n, z_dim = codes.shape
    f_dim = factors.shape[1]
    # The histograms are small; count on the CPU whatever device the codes come from.
    codes, factors = codes.detach().double().cpu(), factors.cpu()
    binned = _discretise(codes, bins)  # (N, Z)
    # one_hot_codes[i, j, b] = 1 when row i's z_j falls in bin b
    one_hot_codes = torch.nn.functional.one_hot(binned, bins).double()  # (N, Z, B)
    p_code = one_hot_codes.mean(dim=0)  # (Z, B)

    mi = torch.zeros(z_dim, f_dim, dtype=torch.float64)
    entropy = torch.zeros(f_dim, dtype=torch.float64)
    for k in range(f_dim):
        _, classes = torch.unique(factors[:, k], return_inverse=True)  # (N,) in [0, K)
        one_hot_factor = torch.nn.functional.one_hot(classes).double()  # (N, K)
        p_factor = one_hot_factor.mean(dim=0)  # (K,)
        entropy[k] = -(p_factor * p_factor.log()).sum()
        joint = torch.einsum("nzb,nk->zbk", one_hot_codes, one_hot_factor) / n  # (Z, B, K)
        independent = p_code.unsqueeze(2) * p_factor.view(1, 1, -1)  # (Z, B, K)
        # 0 log 0 = 0: empty joint cells add nothing.
        ratio = torch.where(joint > 0, joint / independent, torch.ones_like(joint))
        mi[:, k] = (joint * ratio.log()).sum(dim=(1, 2))

    used = [k for k in range(f_dim) if entropy[k] > 0]
    if not used:
        raise ValueError("every factor takes a single value; MIG is undefined")
    per_factor = [float("nan")] * f_dim
    for k in used:
        top2 = torch.topk(mi[:, k] / entropy[k], 2).values
        per_factor[k] = float(top2[0] - top2[1])
    return {
        "mig": sum(per_factor[k] for k in used) / len(used),
        "per_factor": per_factor,
        "mi": mi,
        "entropy": entropy.tolist(),
        "factors_used": used,
        "bins": bins,
    }


def _uniform_factors(n: int, sizes: Sequence[int], generator: torch.Generator) -> Tensor:
    # (n, F) int64, each column uniform over its range.
    return torch.stack([torch.randint(s, (n,), generator=generator) for s in sizes], dim=1)


@torch.no_grad()
def _beta_vae_features(
    encode: Callable[[Tensor], Tensor],
    render: Callable[[Tensor], Tensor],
    fixed: Tensor,
    sizes: Sequence[int],
    batch_size: int,
    generator: torch.Generator,
) -> Tensor:
    # fixed: (E,) index of the factor shared within each example's pairs -> (E, Z) features.
    examples = fixed.shape[0]
    per_call = max(1, _ENCODE_CHUNK // (2 * batch_size))  # examples per encode call
    features = []
    for start in range(0, examples, per_call):
        k = fixed[start : start + per_call]  # (e,)
        e = k.shape[0]
        first = _uniform_factors(e * batch_size, sizes, generator)  # (e*L, F)
        second = _uniform_factors(e * batch_size, sizes, generator)  # (e*L, F)
        rows = torch.arange(e * batch_size)
        shared = k.repeat_interleave(batch_size)  # (e*L,)
        second[rows, shared] = first[rows, shared]
        codes = encode(render(torch.cat([first, second])))  # (2*e*L, Z)
        if codes.dim() != 2 or codes.shape[0] != 2 * e * batch_size:
            raise ValueError(
                f"encode must return (M, Z) means for M images, got {tuple(codes.shape)} "
                f"for {2 * e * batch_size} images"
            )
        z1, z2 = codes.double().cpu().view(2, e, batch_size, -1)  # (e, L, Z) each
        features.append((z1 - z2).abs().mean(dim=1))  # (e, Z)
    return torch.cat(features)


def beta_vae_metric(
    encode: Callable[[Tensor], Tensor],
    factor_sizes: Sequence[int] = FACTOR_SIZES,
    render: Callable[[Tensor], Tensor] = render,
    *,
    n_train: int = 5000,
    n_test: int = 2000,
    batch_size: int = 64,
    seed: int = 0,
    factors_included: Sequence[int] | None = None,
) -> dict:
    """The beta-VAE disentanglement metric (Higgins et al. 2017, ICLR, section 3).

    The variant implemented:

    1. One example: draw a factor k uniformly from ``factors_included`` (default: every factor,
       shape included). Draw ``batch_size`` pairs of factor vectors, every factor uniform on its
       grid and independent, except that the second vector of each pair copies factor k from the
       first. Render both, encode to means z1, z2 and take the feature mean_l |z1_l - z2_l|, a
       Z-vector; its label is k.
    2. Build ``n_train`` training and ``n_test`` test examples this way (test drawn after train,
       from one generator seeded with ``seed``).
    3. Fit multinomial logistic regression (a linear classifier: standardised features, small L2
       penalty 1e-4 on the weights, full-batch L-BFGS from zero weights) on the training examples.
    4. Report accuracy on the test examples; chance is 1 / len(factors_included).

    Args:
        encode: maps (M, 1, 64, 64) images (whatever ``render`` returns) to (M, Z) encoder means.
            Called under ``torch.no_grad`` with up to about 4096 images at once; the images are
            on the CPU, so an encoder on another device moves them inside ``encode``.
        factor_sizes: number of values of each factor.
        render: maps (M, F) integer factors to images.
        n_train: training examples.
        n_test: held-out test examples.
        batch_size: pairs averaged per example (L).
        seed: seed for all the sampling.
        factors_included: indices of the factors that may be fixed (the classes).

    Returns:
        ``accuracy`` (test), ``train_accuracy``, ``n_train``, ``n_test``, ``batch_size`` and
        ``factors_included``.

    Raises:
        ValueError: for non-positive sizes or counts, or factor indices out of range.
    """
    sizes = [int(s) for s in factor_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"factor_sizes must be positive, got {sizes}")
    if min(n_train, n_test, batch_size) < 1:
        raise ValueError(
            f"n_train, n_test and batch_size must be >= 1, got {n_train}, {n_test}, {batch_size}"
        )
    included = list(range(len(sizes))) if factors_included is None else list(factors_included)
    if not included or len(set(included)) != len(included):
        raise ValueError(f"factors_included must be distinct factor indices, got {included}")
    if min(included) < 0 or max(included) >= len(sizes):
        raise ValueError(
            f"factors_included must lie in [0, {len(sizes) - 1}], got {included}"
        )

    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(included), (n_train + n_test,), generator=generator)  # (E,)
    fixed = torch.tensor(included)[labels]  # (E,) factor index held fixed
    features = _beta_vae_features(encode, render, fixed, sizes, batch_size, generator)  # (E, Z)
    train_x, test_x = features[:n_train], features[n_train:]
    train_y, test_y = labels[:n_train], labels[n_train:]
    # The shared probe penalises l2 / 2 * ||W||^2, hence l2 = 2 * _L2. It fits in the features'
    # dtype: float64 here (``_beta_vae_features`` returns doubles).
    predict = fit_linear_probe(
        train_x, train_y, len(included), l2=2 * _L2, max_iter=_PROBE_ITERATIONS
    )
    return {
        "accuracy": float((predict(test_x) == test_y).double().mean()),
        "train_accuracy": float((predict(train_x) == train_y).double().mean()),
        "n_train": n_train,
        "n_test": n_test,
        "batch_size": batch_size,
        "factors_included": included,
    }
