"""Evaluation metrics as pure functions (CONVENTIONS.md fixes each definition).

Shapes: S = sentences in the evaluation set, Z = latent size.
"""

from __future__ import annotations

import math

from torch import Tensor

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
