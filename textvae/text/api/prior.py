"""The aggregate prior (Ghosh et al. 2020, "From Variational to Deterministic Autoencoders",
ex-post density estimation): a diagonal Gaussian mixture fitted by EM to the posterior means of
training sentences, and the file it is kept in beside a checkpoint's weights
(``aggregate_prior.safetensors``; ``aggregate_prior.pt`` from older versions still reads).

A VAE's decoder only ever saw codes from the aggregate posterior q(z) = E_x q(z|x), which for a
trained sentence VAE is not N(0, I) (inactive dimensions collapse, active ones drift). Sampling
from a density fitted to the posterior means of the training set decodes into more typical
sentences.

Shape legend: Z = latent size, C = mixture components, N = fitted points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import CheckpointError
from textvae.core.files import fsync_dir
from textvae.core.weights import read_tensor_file, save_tensor_file

AGGREGATE_PRIOR_FILE = "aggregate_prior.safetensors"
LEGACY_AGGREGATE_PRIOR_FILE = "aggregate_prior.pt"  # torch.save, before safetensors
PRIORS = ("standard", "aggregate")  # what the sampling methods draw z from


@dataclass
class DiagonalGMM:
    """A mixture of C Gaussians with diagonal covariances over R^Z.

    Attributes:
        weights: (C,) mixing weights, summing to 1.
        means: (C, Z).
        variances: (C, Z), all > 0.
    """

    weights: Tensor
    means: Tensor
    variances: Tensor

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` points: a component by weight, then a Gaussian draw from it. Returns (n, Z)."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        noise = torch.randn(
            n, self.means.shape[1], generator=generator,
            dtype=self.means.dtype, device=self.means.device,
        )  # (n, Z)
        return self.means[component] + self.variances[component].sqrt() * noise

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density of each row of ``x`` (N, Z). Returns (N,)."""
        return _component_log_joint(x, self.weights, self.means, self.variances).logsumexp(dim=1)

    def to(self, device: torch.device | str) -> DiagonalGMM:
        return DiagonalGMM(self.weights.to(device), self.means.to(device), self.variances.to(device))

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors, for a safetensors file (:func:`save_prior_file`)."""
        return {"weights": self.weights, "means": self.means, "variances": self.variances}

    @classmethod
    def from_state_dict(cls, state: Any, *, latent_dim: int | None = None) -> DiagonalGMM:
        """Rebuild from :meth:`state_dict`; checks the shapes (and Z, if given).

        Raises:
            ValueError: missing entries or inconsistent shapes.
        """
        if not isinstance(state, dict) or not {"weights", "means", "variances"} <= state.keys():
            raise ValueError("expected a dict with weights, means and variances")
        weights, means, variances = state["weights"], state["means"], state["variances"]
        if not all(isinstance(t, Tensor) for t in (weights, means, variances)):
            raise ValueError("weights, means and variances must be tensors")
        if (
            weights.dim() != 1
            or means.dim() != 2
            or means.shape[0] != weights.shape[0]
            or variances.shape != means.shape
        ):
            raise ValueError(
                f"inconsistent shapes: weights {tuple(weights.shape)}, means "
                f"{tuple(means.shape)}, variances {tuple(variances.shape)}"
            )
        if latent_dim is not None and means.shape[1] != latent_dim:
            raise ValueError(f"the mixture is over {means.shape[1]} dimensions, the model has {latent_dim}")
        return cls(weights.float(), means.float(), variances.float())


def _component_log_joint(x: Tensor, weights: Tensor, means: Tensor, variances: Tensor) -> Tensor:
    """log(w_c) + log N(x_n | mean_c, diag(var_c)) for every point and component: (N, C)."""
    precision = 1.0 / variances  # (C, Z)
    # sum_z (x - m)^2 / v, expanded so the (N, C, Z) difference tensor is never built.
    mahalanobis = (
        (x * x) @ precision.T - 2.0 * x @ (means * precision).T + (means * means * precision).sum(1)
    )  # (N, C)
    log_det = variances.log().sum(dim=1)  # (C,)
    log_gauss = -0.5 * (x.shape[1] * math.log(2 * math.pi) + log_det + mahalanobis)  # (N, C)
    return log_gauss + weights.log()


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator, lloyd_steps: int = 10) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) and a few Lloyd steps: (k, Z) centres."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    dist2 = ((x - x[first]) ** 2).sum(1)  # (N,) to the nearest centre so far
    for _ in range(1, k):
        total = dist2.sum()
        probs = dist2 / total if total > 0 else torch.full_like(dist2, 1.0 / n)
        pick = int(torch.multinomial(probs, 1, generator=generator))
        centres.append(x[pick])
        dist2 = torch.minimum(dist2, ((x - x[pick]) ** 2).sum(1))
    centres_t = torch.stack(centres)  # (C, Z)
    for _ in range(lloyd_steps):
        assign = torch.cdist(x, centres_t).argmin(dim=1)  # (N,)
        for c in range(k):
            members = x[assign == c]
            if len(members):
                centres_t[c] = members.mean(0)
    return centres_t


def fit_diagonal_gmm(
    x: Tensor,
    n_components: int = 10,
    *,
    seed: int = 0,
    max_iter: int = 200,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
) -> DiagonalGMM:
    """Fit a diagonal-covariance Gaussian mixture by EM (Dempster et al. 1977).

    k-means++ seeding then hard k-means assignments initialise the responsibilities; EM then
    runs until the mean log-likelihood per point improves by less than ``tol`` (or for
    ``max_iter`` iterations). ``reg_covar`` is added to every variance, so a dimension that is
    constant over the data (an inactive latent unit) keeps a tiny positive variance. The fit
    runs in float64 on the CPU and is deterministic for a given ``seed``.

    Args:
        x: (N, Z) points, N >= ``n_components``.
        n_components: C >= 1.
        seed: seeds the k-means++ initialisation.
        max_iter: most EM iterations.
        tol: convergence threshold on the mean log-likelihood (nats per point).
        reg_covar: variance floor added in every M step.

    Returns:
        The mixture, as float32 tensors on the CPU.

    Raises:
        ValueError: too few points, or a bad ``n_components``.
    """
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if x.dim() != 2 or x.shape[0] < n_components:
        raise ValueError(
            f"need at least n_components={n_components} points of shape (N, Z), got {tuple(x.shape)}"
        )
    x = x.detach().to("cpu", torch.float64)
    generator = torch.Generator().manual_seed(seed)
    centres = _kmeans_plus_plus(x, n_components, generator)  # (C, Z)
    resp = torch.nn.functional.one_hot(
        torch.cdist(x, centres).argmin(dim=1), n_components
    ).double()  # (N, C)
    previous = -math.inf
    for _ in range(max_iter):
        # M step: the weighted moments of each component (tiny count floor for empty ones).
        counts = resp.sum(0) + 10 * torch.finfo(torch.float64).eps  # (C,)
        weights = counts / counts.sum()
        means = resp.T @ x / counts.unsqueeze(1)  # (C, Z)
        variances = (resp.T @ (x * x) / counts.unsqueeze(1) - means * means).clamp(min=0) + reg_covar
        # E step: responsibilities under the new parameters.
        joint = _component_log_joint(x, weights, means, variances)  # (N, C)
        log_norm = joint.logsumexp(dim=1, keepdim=True)  # (N, 1)
        resp = (joint - log_norm).exp()
        mean_loglik = float(log_norm.mean())
        if mean_loglik - previous < tol:
            break
        previous = mean_loglik
    return DiagonalGMM(weights.float(), means.float(), variances.float())


def find_prior_file(directory: Path) -> Path | None:
    """The saved mixture in a checkpoint directory: the safetensors file, else a legacy
    ``aggregate_prior.pt``, else None."""
    for name in (AGGREGATE_PRIOR_FILE, LEGACY_AGGREGATE_PRIOR_FILE):
        if (directory / name).is_file():
            return directory / name
    return None


def read_prior_file(file: Path, latent_dim: int | None = None) -> DiagonalGMM:
    """Read a mixture saved by :func:`save_prior_file`, or a legacy ``.pt`` one (read with
    ``weights_only``: tensors only). With ``latent_dim``, Z is checked too.

    Raises:
        CheckpointError: the file is unreadable, foreign, or over another latent size.
    """
    try:
        if file.suffix == ".safetensors":
            state = read_tensor_file(file)
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
        return DiagonalGMM.from_state_dict(state, latent_dim=latent_dim)
    except Exception as err:  # noqa: BLE001 - corrupt, foreign or mismatched file
        raise CheckpointError(
            f"cannot use {file}: {type(err).__name__}: {str(err).splitlines()[0][:200]}; "
            "delete it or refit with `textvae fit-prior`"
        ) from None


def save_prior_file(prior: DiagonalGMM, file: Path) -> None:
    """Write the mixture's tensors to ``file`` (safetensors) atomically (:mod:`textvae.core.files`),
    then remove a legacy ``aggregate_prior.pt`` beside it, which the new file supersedes."""
    save_tensor_file(prior.state_dict(), file)
    legacy = file.with_name(LEGACY_AGGREGATE_PRIOR_FILE)
    if file.name == AGGREGATE_PRIOR_FILE and legacy.is_file():
        legacy.unlink()
        fsync_dir(file.parent)


def convert_prior_file(directory: Path) -> bool:
    """Rewrite a legacy ``aggregate_prior.pt`` in ``directory`` as safetensors (``textvae
    convert``). Returns whether there was one to convert.

    Raises:
        CheckpointError: the legacy file is unreadable.
    """
    legacy = directory / LEGACY_AGGREGATE_PRIOR_FILE
    if not legacy.is_file():
        return False
    save_prior_file(read_prior_file(legacy), directory / AGGREGATE_PRIOR_FILE)
    return True
