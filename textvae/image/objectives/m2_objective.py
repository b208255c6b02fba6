"""The objective and the metrics of the semi-supervised image models
(:mod:`textvae.image.models.m2`), built from the shared terms of :mod:`textvae.core.semisupervised`.

- :func:`m2_loss`: one step's loss on a labelled batch and an unlabelled one (Kingma et al.
  2014's J^alpha per example; the maths and the weight of the classification term are
  :func:`textvae.core.semisupervised.semi_supervised_loss`'s), or the supervised-only baseline's
  class NLL.
- :func:`evaluate_m2`: classification accuracy and error of q(y|x) on a labelled set and, for
  M2, its bounds: ``neg_elbo`` = -U(x) (a bound on -log p(x), labels unused) and
  ``neg_elbo_labelled`` = -L(x, y) (a bound on -log p(x, y)), in nats per example of the
  model's inputs (pixels for M2, M1's z1 for M1+M2).

Shapes: B = batch, N = examples, D = inputs, K = classes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from textvae.core.semisupervised import (
    DEFAULT_ALPHA_SCALE,
    accuracy,
    class_nll,
    labelled_neg_elbo,
    semi_supervised_loss,
    unlabelled_neg_elbo,
)


class M2Terms(NamedTuple):
    """One step's loss and its logged parts (means over the step's examples, nats)."""

    loss: Tensor  # () the training objective
    labelled: Tensor  # () mean -L(x, y) of the labelled batch; 0 for the classifier alone
    unlabelled: Tensor  # () mean -U(x) of the unlabelled batch; 0 without one
    classification: Tensor  # () mean -log q(y|x) of the labelled batch


def m2_loss(
    model, x_l: Tensor, y_l: Tensor, x_u: Tensor | None, *, n_labelled: int, n_unlabelled: int,
    alpha_scale: float = DEFAULT_ALPHA_SCALE, generator: torch.Generator | None = None,
) -> M2Terms:
    """The per-example loss of one step.

    Args:
        model: an :class:`~textvae.image.models.m2.M2`.
        x_l: (B_l, D) labelled inputs; y_l: (B_l,) their class ids.
        x_u: (B_u, D) unlabelled inputs, or None (the classifier alone always passes None).
        n_labelled, n_unlabelled: N_l and N_u of the whole training set.
        alpha_scale: the classification term's weight per example (0.1: Kingma et al.'s
            alpha = 0.1 N).
        generator: draws the reparameterization noise.
    """
    classification = class_nll(model.classify(x_l), y_l)  # (B_l,)
    zero = classification.new_zeros(())
    if not model.generative:  # the supervised-only baseline: the classifier's NLL alone
        return M2Terms(classification.mean(), zero, zero, classification.mean())
    sizes = [model.num_classes]
    rec, kl = model.bound_terms(x_l, model.one_hot(y_l), generator)
    labelled = labelled_neg_elbo(rec, kl, sizes)  # (B_l,)
    unlabelled = None
    if x_u is not None:
        rec_u, kl_u = model.bound_terms_every_class(x_u, generator)  # (B_u, K) each
        unlabelled = unlabelled_neg_elbo(labelled_neg_elbo(rec_u, kl_u, sizes),
                                         model.classify(x_u))  # (B_u,)
    loss = semi_supervised_loss(labelled, unlabelled, classification, n_labelled=n_labelled,
                                n_unlabelled=n_unlabelled, alpha_scale=alpha_scale)
    return M2Terms(loss, labelled.mean(), zero if unlabelled is None else unlabelled.mean(),
                   classification.mean())


@torch.no_grad()
def class_probabilities(model, x: Tensor, batch_size: int = 1000) -> Tensor:
    """q(y|x) of inputs x (N, D): (N, K) probabilities, in batches."""
    return torch.cat([torch.softmax(model.classify(b).float(), dim=1) for b in x.split(batch_size)])


@torch.no_grad()
def evaluate_m2(model, x: Tensor, labels: Tensor, *, batch_size: int = 500, seed: int = 0,
                bounds: bool = True) -> dict[str, float]:
    """Classification figures of q(y|x) and (M2, ``bounds``) the bounds over a labelled set.

    Args:
        model: an :class:`~textvae.image.models.m2.M2`, on the device of ``x``.
        x: (N, D) inputs (for M1+M2 the posterior means of M1); labels: (N,) class ids.
        seed: seeds the one z per example and class that the bounds draw.

    Returns:
        ``accuracy``, ``error`` (1 - accuracy), ``class_nll`` (mean -log q(y|x), nats); for M2
        also ``neg_elbo`` (-U), ``neg_elbo_labelled`` (-L), ``reconstruction`` and ``kl`` (of
        -L, with the true class), all per example.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sizes = [model.num_classes]
    sums = dict.fromkeys(("class_nll", "neg_elbo", "neg_elbo_labelled", "reconstruction", "kl"), 0.0)
    predicted = []
    for xb, yb in zip(x.split(batch_size), labels.split(batch_size), strict=True):
        logits = model.classify(xb)
        predicted.append(logits.argmax(dim=1))
        sums["class_nll"] += class_nll(logits, yb).sum().item()
        if bounds and model.generative:
            rec, kl = model.bound_terms_every_class(xb, generator)  # (B, K)
            per_class = labelled_neg_elbo(rec, kl, sizes)  # (B, K)
            sums["neg_elbo"] += unlabelled_neg_elbo(per_class, logits).sum().item()
            true = yb.unsqueeze(1)
            sums["neg_elbo_labelled"] += per_class.gather(1, true).sum().item()
            sums["reconstruction"] += rec.gather(1, true).sum().item()
            sums["kl"] += kl.gather(1, true).sum().item()
    model.train(was_training)
    acc = accuracy(torch.cat(predicted), labels)
    n = len(x)
    result = {"accuracy": acc, "error": 1.0 - acc, "class_nll": sums["class_nll"] / n}
    if bounds and model.generative:
        result.update({k: sums[k] / n for k in ("neg_elbo", "neg_elbo_labelled",
                                                "reconstruction", "kl")})
    return result
