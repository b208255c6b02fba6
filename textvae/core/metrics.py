"""Evaluation metrics as pure functions: tensors in, numbers out (CONVENTIONS.md fixes each
definition). Text and image models share them.

- perplexity and active units (Burda et al. 2016);
- importance weights and the importance-weighted bound (Burda et al. 2016);
- the mutual information I_q(x; z) over a whole set (Hoffman & Johnson 2016; the estimator of
  He et al. 2019);
- reconstruction accuracy of decodes against their inputs;
- the linear probe (multinomial logistic regression) that the grammar-quality report and the
  beta-VAE disentanglement metric both train.

Shapes: S = sentences (or images) in the evaluation set, K = importance samples, Z = latent size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from textvae.core.gaussian import log_normal, log_standard_normal

ACTIVE_UNIT_THRESHOLD = 0.01


def perplexity(total_nll: float, total_tokens: int) -> float:
    """``exp(total NLL / total target tokens)``; targets are the words plus one end token per
    sentence (CONVENTIONS.md). Given an upper bound on the NLL (the negative ELBO), it gives an
    upper bound on the perplexity."""
    return math.exp(total_nll / total_tokens)


def active_units(posterior_means: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Burda et al. 2016: the number of latent dimensions d with Var_x(E_q[z_d]) > threshold.

    Args:
        posterior_means: (S, Z) posterior means over the whole evaluation set.
    """
    if posterior_means.shape[0] < 2:
        return 0
    return int((posterior_means.double().var(dim=0) > threshold).sum())


def iw_log_weights(log_px_given_z: Tensor, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Log importance weights ``log p(x|z_k) + log p(z_k) - log q(z_k|x)`` with p(z) = N(0, I).

    Args:
        log_px_given_z: (..., K) log-likelihood of each x under each of its samples.
        z: (..., K, Z) the samples, drawn from q(z|x).
        mu: (..., Z) posterior means of q(z|x).
        logvar: (..., Z) posterior log-variances.

    Returns:
        (..., K) log weights.
    """
    log_q = log_normal(z, mu.unsqueeze(-2), logvar.unsqueeze(-2))  # (..., K)
    return log_px_given_z + log_standard_normal(z) - log_q


def iw_nll_from_log_weights(log_weights: Tensor) -> Tensor:
    """Burda et al. 2016: ``-log (1/K) sum_k w_k`` from (..., K) log weights; returns (...,).

    It is an upper bound on -log p(x) in expectation, equal to the negative ELBO at K = 1, and
    tightens as K grows.
    """
    k = log_weights.shape[-1]
    return math.log(k) - torch.logsumexp(log_weights, dim=-1)


def mutual_information(mu: Tensor, logvar: Tensor, z: Tensor, *, chunk: int = 256) -> float:
    """I_q(x; z) = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], in nats (CONVENTIONS.md).

    The aggregate posterior is the mixture of the posteriors of all S rows,
    ``log q(z_i) = logsumexp_j log q(z_i | x_j) - log S``, and each row contributes one sample
    ``z_i ~ q(z|x_i)`` (the estimator of He et al. 2019, over the whole set rather than a batch).
    Rows of the (S, S) matrix of log densities are computed ``chunk`` at a time, in float64, so
    memory is O(chunk * S). A collapsed model can give a slightly negative value; it is returned
    as computed.

    Args:
        mu: (S, Z) posterior means.
        logvar: (S, Z) posterior log-variances.
        z: (S, Z) one sample per row, z[i] ~ q(z | x_i).
        chunk: rows of the density matrix per step.

    Returns:
        The estimate, a float.
    """
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    s = mu.shape[0]
    if s == 0:
        raise ValueError("mutual_information needs at least one row")
    inv_var = torch.exp(-logvar)  # (S, Z)
    # log N(z_i; mu_j, var_j) = c_j - 0.5 * sum_d (z_id^2 inv_jd - 2 z_id mu_jd inv_jd), with
    # c_j = -0.5 * sum_d (log 2pi + logvar_jd + mu_jd^2 inv_jd): two matmuls per chunk.
    const = -0.5 * (math.log(2 * math.pi) + logvar + mu.pow(2) * inv_var).sum(1)  # (S,)
    log_q_aggregate = []
    for start in range(0, s, chunk):
        zc = z[start : start + chunk]  # (C, Z)
        quad = zc.pow(2) @ inv_var.T - 2.0 * zc @ (mu * inv_var).T  # (C, S)
        log_dens = const.unsqueeze(0) - 0.5 * quad  # (C, S): log q(z_i | x_j)
        log_q_aggregate.append(torch.logsumexp(log_dens, dim=1) - math.log(s))  # (C,)
    log_q_own = log_normal(z, mu, logvar)  # (S,): log q(z_i | x_i)
    return float((log_q_own - torch.cat(log_q_aggregate)).mean())


def reconstruction_accuracy(
    references: Sequence[Sequence[int]],
    decodes: Sequence[Sequence[int]],
    *,
    decodes_ended: Sequence[bool] | None = None,
) -> dict[str, float]:
    """Exact-match and token-level accuracy of decodes against references.

    Token accuracy is the share of reference target positions (the words plus the end token,
    which the decoder must also produce) where the decode has the same token at the same
    position: ``sum_i |{t < len(ref_i) + 1 : dec_i[t] == ref_i[t]}| / sum_i (len(ref_i) + 1)``,
    with the end token appended to both sides (a decode cut off at ``max_len`` has none). A decode
    that is longer than its reference loses only the reference's end-token position. Exact match
    is the share of decodes identical to their reference.

    Args:
        references: id lists without bos/eos.
        decodes: id lists without bos/eos, one per reference.
        decodes_ended: whether each decode ended with the end token (default: all did).

    Returns:
        ``{"exact_match": ..., "token_accuracy": ...}``.
    """
    if len(references) != len(decodes):
        raise ValueError(f"{len(references)} references but {len(decodes)} decodes")
    if not references:
        raise ValueError("no references to compare")
    ended = [True] * len(decodes) if decodes_ended is None else list(decodes_ended)
    end = object()  # an end-token marker no id can equal
    exact = matched = total = 0
    for ref, dec, has_end in zip(references, decodes, ended, strict=True):
        ref_t = [*ref, end]
        dec_t = [*dec, end] if has_end else list(dec)
        exact += ref_t == dec_t
        matched += sum(r == d for r, d in zip(ref_t, dec_t, strict=False))
        total += len(ref_t)
    return {"exact_match": exact / len(references), "token_accuracy": matched / total}


def fit_linear_probe(
    x: Tensor, y: Tensor, classes: int, *, l2: float, max_iter: int
) -> Callable[[Tensor], Tensor]:
    """Multinomial logistic regression by full-batch L-BFGS from zero weights (deterministic).

    Features are standardized with the training mean and standard deviation first (an affine
    change of variables, so the classifier is still linear in the raw features); the loss is the
    mean cross-entropy plus ``l2 / 2 * ||W||^2``. The fit runs in ``x``'s dtype.

    Args:
        x: (N, Z) training features.
        y: (N,) class indices in ``[0, classes)``.
        classes: C.
        l2: L2 strength.
        max_iter: L-BFGS iterations.

    Returns:
        A function mapping (M, Z) features to (M,) predicted class indices.
    """
    mean, std = x.mean(0), x.std(0).clamp(min=1e-8)
    xs = (x - mean) / std  # (N, Z)
    weight = torch.zeros(x.shape[1], classes, dtype=x.dtype, requires_grad=True)  # (Z, C)
    bias = torch.zeros(classes, dtype=x.dtype, requires_grad=True)  # (C,)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight + bias, y)
        loss = loss + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    weight, bias = weight.detach(), bias.detach()
    return lambda features: (((features - mean) / std) @ weight + bias).argmax(dim=1)


def linear_probe_accuracy(
    train_x: Tensor,
    train_labels: Sequence[Any],
    test_x: Tensor,
    test_labels: Sequence[Any],
    *,
    l2: float | None = None,
    max_iter: int = 200,
) -> float:
    """Test accuracy of a linear probe (:func:`fit_linear_probe`, in float64) trained on
    ``(train_x, train_labels)``: the probing methodology of Alain & Bengio 2016 / Conneau et
    al. 2018.

    The default ``l2 = 1 / N`` is the regularization of scikit-learn's
    ``LogisticRegression(C=1.0)``. A test label never seen in training counts as a miss.

    Args:
        train_x: (N, Z) features.
        train_labels: N hashable labels.
        test_x: (M, Z) features.
        test_labels: M labels.
        l2: L2 strength, or None for ``1 / N``.
        max_iter: L-BFGS iterations.

    Returns:
        The share of test labels predicted correctly.
    """
    if len(train_labels) != train_x.shape[0] or len(test_labels) != test_x.shape[0]:
        raise ValueError("features and labels differ in length")
    if not len(test_labels):
        raise ValueError("no test examples")
    classes = sorted(set(train_labels), key=repr)
    index = {c: i for i, c in enumerate(classes)}
    if len(classes) == 1:
        return sum(label == classes[0] for label in test_labels) / len(test_labels)
    x = train_x.detach().to("cpu", torch.float64)
    y = torch.tensor([index[label] for label in train_labels])  # (N,)
    strength = 1.0 / x.shape[0] if l2 is None else l2
    predict = fit_linear_probe(x, y, len(classes), l2=strength, max_iter=max_iter)
    with torch.no_grad():
        predicted = predict(test_x.detach().to("cpu", torch.float64)).tolist()  # (M,)
    hits = sum(classes[p] == label for p, label in zip(predicted, test_labels, strict=True))
    return hits / len(test_labels)
