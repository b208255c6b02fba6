"""What a labelled sentence model believes a sentence's labels are: p(y | x) per factor.

- M2 (and the supervised-only baseline) has a classifier: q(y | x) directly.
- A conditional VAE has none; it classifies by Bayes' rule with its bound as the likelihood,
  p(y | x) ~ exp(ELBO(x, y)) under the uniform prior, over every combination of the factors' values
  (the joint is then summed to each factor's marginal). The bound is taken at z = the posterior
  mean (no sampling noise, so a sentence always gets the same answer).

Shapes: S = sentences, F = factors, C_f = classes of factor f, K = combinations (prod C_f).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import Tensor

from textvae.core.gaussian import kl_standard_normal
from textvae.core.objectives import reconstruction_nll
from textvae.core.semisupervised import posterior_over_classes
from textvae.text.data.batching import Batch, collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.models.labelled import LabelledSentenceVAE

# Beyond this many label combinations the bound-based classifier refuses (each costs a pass).
MAX_COMBINATIONS = 256


@torch.no_grad()
def label_posteriors(model: LabelledSentenceVAE, ids: list[list[int]], tokenizer: Tokenizer, *,
                     device: torch.device, batch_size: int = 256) -> list[Tensor | None]:
    """Per factor, (S, C_f) probabilities of each value; None for a factor the model cannot
    infer (M2 infers only the factor its classifier was trained on).

    Args:
        ids: S token-id lists (no bos/eos), each non-empty.
    """
    if model.classifier is not None:
        found: list[Tensor | None] = [None] * len(model.label_sizes)
        found[model.classified_factor] = class_probabilities(model, ids, tokenizer, device=device,
                                                             batch_size=batch_size)
        return found
    was_training = model.training
    model.eval()
    try:
        return _by_bound(model, ids, tokenizer, device, batch_size)
    finally:
        model.train(was_training)


@torch.no_grad()
def class_probabilities(model: LabelledSentenceVAE, ids: list[list[int]], tokenizer: Tokenizer, *,
                        device: torch.device, batch_size: int = 256) -> Tensor:
    """(S, C) q(y | x) of the factor the model's classifier infers (``model.classified_factor``).

    Raises:
        ValueError: the model has no classifier (a conditional VAE).
    """
    was_training = model.training
    model.eval()
    try:
        chunks = [torch.softmax(model.classify(b.ids[:, 1:], b.lengths, b.host_lengths), 1).cpu()
                  for b in _batches(ids, tokenizer, batch_size, device)]
        return torch.cat(chunks)
    finally:
        model.train(was_training)


def _batches(ids: list[list[int]], tokenizer: Tokenizer, batch_size: int, device: torch.device
             ) -> Iterator[Batch]:
    for start in range(0, len(ids), batch_size):
        yield collate(ids[start:start + batch_size], bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id,
                      pad_id=tokenizer.pad_id).to(device)


def _by_bound(model: LabelledSentenceVAE, ids: list[list[int]], tokenizer: Tokenizer,
              device: torch.device, batch_size: int) -> list[Tensor | None]:
    combos = list(itertools.product(*(range(c) for c in model.label_sizes)))  # K tuples of F ids
    if len(combos) > MAX_COMBINATIONS:
        raise ValueError(f"{len(combos)} label combinations: too many to classify by the bound "
                         f"(at most {MAX_COMBINATIONS})")
    table = torch.tensor(combos, device=device)  # (K, F)
    joint = []
    for batch in _batches(ids, tokenizer, max(1, batch_size // len(combos)), device):
        rows = len(batch.lengths)
        ids_k = batch.ids.repeat_interleave(len(combos), 0)  # (B*K, T+1): sentence-major
        lengths_k = batch.lengths.repeat_interleave(len(combos))  # (B*K,)
        labels_k = table.repeat(rows, 1)  # (B*K, F): every combination for each sentence
        zeros = torch.zeros(len(lengths_k), model.latent_dim, device=device)  # z = mu
        out = model(ids_k, lengths_k, labels_k, eps=zeros)
        mu, logvar, _ = out.latent()  # (B*K, Z) each
        neg_elbo = (reconstruction_nll(out.logits, out.targets, lengths_k)
                    + kl_standard_normal(mu.float(), logvar.float()).sum(1))  # (B*K,)
        joint.append(posterior_over_classes(neg_elbo.view(rows, len(combos))).cpu())  # (B, K)
    probs = torch.cat(joint)  # (S, K)
    marginals: list[Tensor | None] = []
    for f, size in enumerate(model.label_sizes):
        member = torch.nn.functional.one_hot(table[:, f].cpu(), size).float()  # (K, C_f)
        marginals.append(probs @ member)  # (S, C_f)
    return marginals
