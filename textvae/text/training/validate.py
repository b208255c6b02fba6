"""The text validation pass: the negative ELBO at beta = 1 and its parts over a whole split,
the ELBO-bound perplexity, active units and, when asked, the mutual information I_q(x; z)
(CONVENTIONS.md), from one z ~ q(z|x) per sentence.

Shapes: B = sentences in a batch, S = sentences in the split, Z = latent size.
"""

from __future__ import annotations

import torch

from textvae.core.gaussian import kl_standard_normal
from textvae.core.metrics import active_units, mutual_information, perplexity
from textvae.core.objectives import reconstruction_nll
from textvae.text.data.batching import BucketBatchSampler, collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.models.contracts import SentenceModel


@torch.no_grad()
def evaluate_elbo(
    model: SentenceModel,
    ids: list[list[int]],
    tokenizer: Tokenizer,
    *,
    batch_size: int,
    device: torch.device,
    seed: int,
    with_mutual_information: bool = False,
    labels: list[list[int]] | None = None,
) -> dict[str, float]:
    """The negative ELBO at beta = 1 and its parts over a whole split, one z ~ q(z|x) per
    sentence, plus the ELBO-bound perplexity and active units (CONVENTIONS.md).

    Args:
        model: a :class:`~textvae.text.models.contracts.SentenceModel`, plain or labelled.
        with_mutual_information: also return ``mutual_information`` (nats), estimated from the
            posteriors and the z this pass drew (a VAE only; the aggressive remedy needs it).
        labels: per sentence (F,) class ids, for a labelled model
            (:class:`~textvae.text.models.labelled.LabelledSentenceVAE`): the figures are then those
            of x given its labels (q(z | x, y), p(x | y, z); without -log p(y)).

    Returns:
        ``neg_elbo``, ``reconstruction``, ``kl`` (nats per sentence), ``ppl_bound``
        (exp(total negative ELBO / target tokens), an upper bound on the PPL; exact for the LM
        baseline), ``active_units``, ``sentences``, ``tokens``.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    lengths = [len(x) + 1 for x in ids]
    # Sorted by length: evaluation order does not matter, and sorted batches carry no padding.
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False)
    total_rec = total_kl = 0.0
    means, logvars, samples = [], [], []  # each a list of (B, Z)
    for indices in sampler.batches(0):
        batch = collate([ids[i] for i in indices], bos_id=tokenizer.bos_id,
                        eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id).to(device)
        given = () if labels is None else (torch.tensor([labels[i] for i in indices], device=device),)
        out = model(batch.ids, batch.lengths, *given, generator=generator)  # float32: exact figures
        total_rec += reconstruction_nll(out.logits, out.targets, batch.lengths).sum().item()
        if out.mu is not None:  # the LM baseline has no latent
            mu, logvar, z = out.latent()  # (B, Z) each
            total_kl += kl_standard_normal(mu.float(), logvar.float()).sum().item()
            means.append(mu.float().cpu())
            if with_mutual_information:
                logvars.append(logvar.float().cpu())
                samples.append(z.float().cpu())
    model.train(was_training)
    n, tokens = len(ids), sum(lengths)
    result = {
        "neg_elbo": (total_rec + total_kl) / n,
        "reconstruction": total_rec / n,
        "kl": total_kl / n,
        "ppl_bound": perplexity(total_rec + total_kl, tokens),
        "active_units": active_units(torch.cat(means)) if means else 0,
        "sentences": n,
        "tokens": tokens,
    }
    if with_mutual_information and means:
        result["mutual_information"] = mutual_information(
            torch.cat(means), torch.cat(logvars), torch.cat(samples)
        )  # (S, Z) each
    return result
