"""Fluency of generated sentences under a reference language model (``textvae evaluate
--reference-lm RUN``): the forward perplexity of Zhao et al. 2018 (ARAE, section 6), and the
loading and checks of that LM.

The reference LM is a run of ``model.model_type: lm`` trained on the evaluated model's training
split with the evaluated model's tokenizer (docs/evaluation.md, "Sample quality"), so that its
perplexity of real sentences and of generated ones are on one scale.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from textvae.core.errors import InputError
from textvae.core.metrics import perplexity
from textvae.text.api import TextVAE, load
from textvae.text.data.tokenizers import tokenizer_fingerprint
from textvae.text.evaluate.iw import iw_nll


def lm_perplexity(
    lm: TextVAE, ids: Sequence[Sequence[int]], *, progress: bool = False, desc: str = "LM NLL"
) -> dict[str, float]:
    """The exact NLL and perplexity of tokenized sentences under a language model (the
    conventions of ../shared/CONVENTIONS.md: nats per sentence, summed over the words and the end
    token; PPL = exp(total NLL / total target tokens)).

    Args:
        lm: a loaded LM baseline (``model.model_type: lm``).
        ids: S token-id lists of ``lm``'s tokenizer, without bos/eos (an empty one scores its
            end token alone).

    Returns:
        ``sentences``, ``target_tokens_incl_eos``, ``nll_nats_per_sentence`` and
        ``ppl_per_token_incl_eos``.
    """
    if lm.model.is_vae:
        raise InputError("lm_perplexity needs a language model (model.model_type: lm), not a VAE")
    if not ids:
        raise InputError("lm_perplexity needs at least one sentence")
    res = iw_nll(lm.model, ids, lm.tokenizer, samples=1, device=lm.device, progress=progress,
                 desc=desc)
    total = float(res["iw_nll"].sum())
    tokens = sum(len(x) + 1 for x in ids)  # words + one eos per sentence
    return {"sentences": len(ids), "target_tokens_incl_eos": tokens,
            "nll_nats_per_sentence": total / len(ids),
            "ppl_per_token_incl_eos": perplexity(total, tokens)}


def forward_perplexity(
    lm: TextVAE, texts: Sequence[str], *, progress: bool = False, desc: str = "forward PPL"
) -> dict[str, float]:
    """Forward perplexity (Zhao et al. 2018, "Adversarially Regularized Autoencoders", section 6):
    the perplexity of generated sentences under a language model trained on real data. Low means
    the sentences read like the training data to that LM (fluent); it says nothing about their
    variety (a model that repeats one common sentence scores well), so read it beside distinct-n
    and self-BLEU, and against the same LM's perplexity of real sentences (:func:`lm_perplexity`
    of the evaluated split).

    The texts are tokenized by the LM's own tokenizer (a word the LM does not know counts as its
    unknown token). Deterministic: the NLL is exact.

    Args:
        lm: the reference LM.
        texts: S sentences, e.g. a model's prior samples.

    Returns:
        :func:`lm_perplexity`'s figures for the texts.
    """
    return lm_perplexity(lm, [lm.tokenizer.encode(t) for t in texts], progress=progress,
                         desc=desc)


def check_reference_lm(lm: TextVAE, evaluated: TextVAE, *, name: str = "the reference LM") -> None:
    """Refuse, in one line, a reference LM that cannot score ``evaluated``'s sentences on its
    scale: a VAE (or a labelled model), or an LM whose tokenizer differs from ``evaluated``'s
    (:func:`~textvae.text.data.tokenizers.tokenizer_fingerprint`: same ids for every text).

    Raises:
        InputError: what is wrong, and how to train a fitting LM.
    """
    labelled = hasattr(lm, "label_set")
    if labelled or lm.model_type != "lm":
        raise InputError(
            f"{name} is not a language model (model.model_type: {lm.model_type}"
            f"{', with labels' if labelled else ''}); give a run of model.model_type: lm trained "
            "on the same training split (docs/evaluation.md, Sample quality)"
        )
    if tokenizer_fingerprint(lm.tokenizer) != tokenizer_fingerprint(evaluated.tokenizer):
        raise InputError(
            f"{name} has another vocabulary than the evaluated model ({lm.tokenizer.vocab_size} "
            f"ids against {evaluated.tokenizer.vocab_size}): train it with the evaluated run's "
            "tokenizer, --set data.tokenizer.from_run=RUN (docs/evaluation.md, Sample quality)"
        )


def load_reference_lm(
    path: str | os.PathLike[str], evaluated: TextVAE, *, name: str | None = None
) -> TextVAE:
    """Load the reference LM of a run directory (its ``best`` checkpoint, else ``last``) or a
    checkpoint directory, on ``evaluated``'s device, and check it (:func:`check_reference_lm`).

    Raises:
        CheckpointError: no text checkpoint there.
        InputError: a VAE, or another vocabulary.
    """
    lm = load(path, device=evaluated.device)
    check_reference_lm(lm, evaluated, name=name or f"the reference LM {path}")
    return lm
