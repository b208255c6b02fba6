"""The semi-supervised VAE objective of Kingma, Rezende, Mohamed & Welling 2014 ("Semi-supervised
Learning with Deep Generative Models", M2), as pure functions shared by text and image models.

With a class y (one factor, C classes, uniform prior p(y) = 1/C) and a latent z:

- labelled example:   -L(x, y) = -log p(x | y, z) + KL(q(z | x, y) || p(z)) - log p(y)
- unlabelled example: -U(x)    = sum_y q(y | x) * (-L(x, y)) - H(q(y | x))
- the classification term, which only labelled examples give: alpha * E[-log q(y | x)].

Kingma et al. set alpha = 0.1 * N over a sum of per-example bounds over the whole data set of N
examples. Per example that is the loss below, whose scale does not change with N:

    loss = (N_l * mean_l(-L) + N_u * mean_u(-U)) / N  +  alpha_scale * mean_l(-log q(y | x))

with ``alpha_scale = 0.1``: each labelled example's classification term weighs 0.1 * N / N_l
times its bound (50 times at 100 labels among 50,000), the ratio of the paper's objective.

Shapes: B = examples, C = classes of the factor the model infers. All in nats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Kingma et al. 2014: alpha = 0.1 * N.
DEFAULT_ALPHA_SCALE = 0.1


def log_uniform_prior(sizes: Sequence[int]) -> float:
    """log p(y) of a uniform prior over every factor: -sum_f log C_f."""
    return -sum(math.log(c) for c in sizes)


def labelled_neg_elbo(recon_nll: Tensor, kl: Tensor, sizes: Sequence[int]) -> Tensor:
    """-L(x, y) per example: (B,) reconstruction NLL + (B,) KL - log p(y) (uniform)."""
    return recon_nll + kl - log_uniform_prior(sizes)


def unlabelled_neg_elbo(per_class_neg_elbo: Tensor, class_logits: Tensor) -> Tensor:
    """-U(x) per example.

    Args:
        per_class_neg_elbo: (B, C) -L(x, y) for every class y.
        class_logits: (B, C) unnormalised log q(y | x).

    Returns:
        (B,) sum_y q(y|x) (-L(x, y) + log q(y|x)), which is the expectation minus the entropy.
    """
    log_q = F.log_softmax(class_logits.float(), dim=1)  # (B, C)
    return (log_q.exp() * (per_class_neg_elbo + log_q)).sum(dim=1)


def class_nll(class_logits: Tensor, labels: Tensor) -> Tensor:
    """(B,) -log q(y | x) for the true classes ``labels`` (B,)."""
    return F.cross_entropy(class_logits.float(), labels, reduction="none")


def semi_supervised_loss(
    labelled: Tensor,
    unlabelled: Tensor | None,
    classification: Tensor,
    *,
    n_labelled: int,
    n_unlabelled: int,
    alpha_scale: float = DEFAULT_ALPHA_SCALE,
) -> Tensor:
    """The per-example M2 loss of one step (module docstring).

    Args:
        labelled: (B_l,) -L(x, y) of the step's labelled examples.
        unlabelled: (B_u,) -U(x) of its unlabelled examples, or None (a supervised step).
        classification: (B_l,) -log q(y | x) of the labelled examples.
        n_labelled: N_l, labelled examples in the whole training set.
        n_unlabelled: N_u, unlabelled examples in it.
        alpha_scale: alpha / N.
    """
    total = n_labelled + (n_unlabelled if unlabelled is not None else 0)
    bound = n_labelled * labelled.mean()
    if unlabelled is not None:
        bound = bound + n_unlabelled * unlabelled.mean()
    return bound / total + alpha_scale * classification.mean()


def posterior_over_classes(per_class_neg_elbo: Tensor) -> Tensor:
    """Bayes' rule with the bound for the likelihood, for a model without a classifier (a
    conditional VAE): p(y | x) ~ exp(L(x, y)) (the uniform prior is already in -L). (B, C) ->
    (B, C) probabilities."""
    return torch.softmax(-per_class_neg_elbo.float(), dim=1)


def accuracy(predicted: Tensor, labels: Tensor) -> float:
    """Share of (B,) predictions equal to (B,) labels."""
    return float((predicted == labels).float().mean())
