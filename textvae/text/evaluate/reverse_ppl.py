"""Reverse perplexity (Zhao et al. 2018, "Adversarially Regularized Autoencoders", section 6):
train a fresh language model on a model's samples, then score real held-out sentences with it.

Forward perplexity (:mod:`textvae.text.evaluate.fluency`) rewards fluent samples even when they
are few and alike; reverse perplexity rewards samples that cover the real data: an LM that has
only seen a few repeated sentences gives the test split's other sentences a low probability.
The LM trained here is small and fixed (:data:`REVERSE_LM`), whatever the evaluated model, so that
reverse perplexities of different models compare; the same LM trained with the same budget on
as many real training sentences gives the figure to read them against.

Shape legend: B = sentences in a batch, N = target tokens in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from textvae.core.metrics import perplexity
from textvae.core.objectives import token_nll
from textvae.core.progress import Progress
from textvae.text.data.batching import collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.evaluate.iw import iw_nll
from textvae.text.evaluate.settings import REVERSE_PPL_STEPS
from textvae.text.models.sentence_vae import ModelConfig, SentenceVAE, build_model

# The LM every reverse perplexity trains: a one-layer LSTM, small enough for a CPU. The encoder
# and latent sizes are unused by an LM; they are set small only to say so.
REVERSE_LM = ModelConfig(model_type="lm", rnn_type="lstm", embed_dim=64, decoder_hidden_dim=128,
                         encoder_hidden_dim=1, latent_dim=1)
DEFAULT_STEPS = REVERSE_PPL_STEPS  # optimiser steps (textvae.text.evaluate.settings)
DEFAULT_BATCH_SIZE = 32
LEARNING_RATE = 3e-3  # Adam
MAX_GRAD_NORM = 5.0


def fit_lm(
    ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    model: ModelConfig = REVERSE_LM,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "reverse PPL: LM",
) -> SentenceVAE:
    """Train a fresh LM on tokenized sentences: ``steps`` Adam steps on batches of
    ``batch_size`` sentences drawn uniformly with replacement, maximum likelihood per token.

    Args:
        ids: the training sentences, token ids of ``tokenizer`` without bos/eos.
        tokenizer: gives V and the special ids; the LM's vocabulary is the tokenizer's.
        model: the LM's sizes (``model_type`` is set to ``lm``).
        seed: seeds the initial weights and the batches (the global RNG is left as it was).
        progress: show the steps (:mod:`textvae.core.progress`).

    Returns:
        The trained LM, in eval mode, on ``device``.
    """
    if not ids:
        raise ValueError("fit_lm needs at least one training sentence")
    if steps < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 0 and batch_size >= 1, got {steps} and {batch_size}")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):  # the initial weights, without touching the caller's RNG
        torch.manual_seed(seed)
        lm = build_model(replace(model, model_type="lm"), tokenizer.vocab_size, tokenizer.pad_id)
    lm.to(device).train()
    optimiser = torch.optim.Adam(lm.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    with Progress(steps, desc=desc, unit="step", enabled=progress) as bar:
        for _ in range(steps):
            rows = torch.randint(len(ids), (batch_size,), generator=generator).tolist()
            batch = collate([ids[r] for r in rows], bos_id=tokenizer.bos_id,
                            eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
            out = lm(batch.ids.to(device), batch.lengths.to(device),
                     host_lengths=batch.host_lengths)
            loss = token_nll(out.logits, out.targets).mean()  # nats per target token, over N
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), MAX_GRAD_NORM)
            optimiser.step()
            bar.update(1)
    return lm.eval()


def reverse_perplexity(
    train_ids: Sequence[Sequence[int]],
    test_ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    model: ModelConfig = REVERSE_LM,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "reverse PPL: LM",
) -> dict[str, Any]:
    """Reverse perplexity (Zhao et al. 2018): the perplexity of real held-out sentences under an
    LM trained (:func:`fit_lm`) on other sentences, a model's samples. Lower is better: the
    samples were varied and real-like enough to teach an LM the real data. Read it against the
    same figure for an LM trained the same way on as many real training sentences.

    Args:
        train_ids: the sentences the LM learns from (a model's samples), token ids.
        test_ids: the real sentences it scores (the evaluated split), token ids.
        tokenizer: the one vocabulary of both.
        steps, batch_size, model, seed, device, progress, desc: as :func:`fit_lm`.

    Returns:
        ``train_sentences``, ``steps``, ``batch_size``, ``nll_nats_per_sentence`` and
        ``ppl_per_token_incl_eos`` (of ``test_ids``, nats summed over words and end tokens).
    """
    if not test_ids:
        raise ValueError("reverse_perplexity needs at least one test sentence")
    lm = fit_lm(train_ids, tokenizer, steps=steps, batch_size=batch_size, model=model, seed=seed,
                device=device, progress=progress, desc=desc)
    res = iw_nll(lm, test_ids, tokenizer, samples=1, device=device)
    total = float(res["iw_nll"].sum())
    tokens = sum(len(x) + 1 for x in test_ids)
    return {"train_sentences": len(train_ids), "steps": steps, "batch_size": batch_size,
            "nll_nats_per_sentence": total / len(test_ids),
            "ppl_per_token_incl_eos": perplexity(total, tokens)}
