"""Sentence VAEs with labels: the conditional VAE and M2 of Kingma et al. 2014 for text.

    y (F factors) -> label embeddings c (B, F*Ey)
    x, c -> encoder -> q(z | x, y);  [z, c] -> decoder -> p(x | y, z)   (RNNs or transformers)
    x -> classifier -> q(y | x)      (M2 and the supervised-only baseline only)

The VAE is a :class:`~textvae.text.models.sentence_vae.SentenceVAE` built with ``condition_dim``: its
posterior heads read ``[summary, c]`` and its decoder ``[z, c]`` (an RNN as its initial state, and
on every step with ``model.z_to_inputs``; a transformer as its z embedding or memory slots). So
every decoding routine that takes a sentence VAE and a z works unchanged when given ``model.vae``
and :meth:`LabelledSentenceVAE.decoder_latent`.

The classifier reads the VAE's encoder summary (``shared``), or the sentence with its own RNN
(``separate``, an RNN whatever the VAE's encoder) over the VAE's embedding table (so the
supervised-only baseline, which trains the classifier alone, is the same network M2 trains).

Shapes: B = sentences, T = time steps, F = label factors, C_f = classes of factor f, Ey = label
embedding size, Z = latent size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from textvae.text.models.parts import DecoderPart
from textvae.text.models.positions import on_host
from textvae.text.models.rnn import final_hidden, make_rnn
from textvae.text.models.sentence_vae import (
    ModelConfig,
    SentenceVAE,
    SentenceVAEOutput,
    build_model,
    with_condition,
)


class SentenceClassifier(nn.Module):
    """q(y | x): an RNN over the sentence, its final state -> C logits.

    Args:
        embedding: the (V, E) table it reads words through (the VAE's, shared).
        rnn_type, hidden_dim, layers, dropout: as the VAE's encoder.
        classes: C.
    """

    def __init__(self, embedding: nn.Embedding, rnn_type: str, hidden_dim: int, layers: int,
                 dropout: float, classes: int) -> None:
        super().__init__()
        self.embedding = embedding
        self.layers = layers
        self.rnn = make_rnn(rnn_type, embedding.embedding_dim, hidden_dim, layers, False, dropout)
        self.dropout = nn.Dropout(dropout)
        self.to_logits = nn.Linear(layers * hidden_dim, classes)

    def forward(self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None) -> Tensor:
        """(B, T) encoder input (words + eos, padded) -> (B, C) logits."""
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        host_lengths = on_host(lengths, host_lengths)
        packed = pack_padded_sequence(x, torch.tensor(host_lengths), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)  # (L, B, H)
        summary = final_hidden(state, self.layers, False)  # (B, L*H)
        return self.to_logits(self.dropout(summary)).float()  # (B, C)


class SharedEncoderClassifier(nn.Module):
    """q(y | x) read off the VAE's own encoder: its final state -> C logits. Unlabelled sentences
    then train the features the classifier uses, through the reconstruction.

    Args:
        vae: the sentence VAE whose :meth:`~SentenceVAE.summarize` it reads (not registered
            here: its weights belong to the VAE).
        dropout: on the summary.
        classes: C.
    """

    def __init__(self, vae: SentenceVAE, dropout: float, classes: int) -> None:
        super().__init__()
        self._vae = [vae]  # a list: not a submodule, so its weights are saved once, by the VAE
        summary_dim = vae.to_mu.in_features - vae.condition_dim  # L*D*H
        self.dropout = nn.Dropout(dropout)
        self.to_logits = nn.Linear(summary_dim, classes)

    def forward(self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None) -> Tensor:
        """(B, T) encoder input -> (B, C) logits."""
        summary = self._vae[0].summarize(tokens, lengths, host_lengths)  # (B, L*D*H)
        return self.to_logits(self.dropout(summary)).float()  # (B, C)


class LabelledSentenceVAE(nn.Module):
    """A sentence VAE conditioned on F label factors, with an optional classifier of one factor.

    Args:
        vae: a :class:`SentenceVAE` built with ``condition_dim = F * label_embed_dim``.
        label_sizes: (C_1, ..., C_F).
        label_embed_dim: Ey.
        classifier: q(y | x) of ``classified_factor``, or None (a conditional VAE).
        classified_factor: which factor the classifier infers.
    """

    def __init__(self, vae: SentenceVAE, label_sizes: Sequence[int], label_embed_dim: int,
                 classifier: nn.Module | None = None, classified_factor: int = 0) -> None:
        super().__init__()
        if vae.condition_dim != len(label_sizes) * label_embed_dim:
            raise ValueError(f"the VAE's condition_dim {vae.condition_dim} is not "
                             f"{len(label_sizes)} factors x {label_embed_dim}")
        self.vae = vae
        self.label_sizes = tuple(label_sizes)
        self.label_embeddings = nn.ModuleList(nn.Embedding(c, label_embed_dim) for c in label_sizes)
        self.classifier = classifier
        self.classified_factor = classified_factor
        # The rest of textvae.text.models.contracts.SentenceModel, which the shared trainer,
        # validation and the remedies drive: the VAE's own.
        self.is_vae = True
        self.model_type = "vae"
        self.latent_dim = vae.latent_dim

    def encoder_modules(self) -> list[nn.Module]:
        """The VAE's inference network (:meth:`SentenceVAE.encoder_modules`)."""
        return self.vae.encoder_modules()

    def decoder_modules(self) -> list[nn.Linear | DecoderPart[Any]]:
        """The VAE's generative network (:meth:`SentenceVAE.decoder_modules`)."""
        return self.vae.decoder_modules()

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None,
                       eps: Tensor | None = None) -> Tensor:
        """z = mu + sigma * eps, (B, Z) (:meth:`SentenceVAE.reparameterize`)."""
        return self.vae.reparameterize(mu, logvar, generator=generator, eps=eps)

    def condition(self, labels: Tensor) -> Tensor:
        """(B, F) class ids (none negative) -> (B, F*Ey) label embeddings, factor after factor."""
        return torch.cat([table(labels[:, f]) for f, table in enumerate(self.label_embeddings)], dim=1)

    def decoder_latent(self, z: Tensor, labels: Tensor) -> Tensor:
        """What ``self.vae``'s decoder reads: (B, Z) z and (B, F) labels -> (B, Z + F*Ey)."""
        return with_condition(z, self.condition(labels))

    def encode(self, tokens: Tensor, lengths: Tensor, labels: Tensor,
               host_lengths: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
        """q(z | x, y): ``(mu, logvar)``, each (B, Z)."""
        return self.vae.encode(tokens, lengths, host_lengths, self.condition(labels))

    def classify(self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None) -> Tensor:
        """(B, C) logits of q(y | x) for the classified factor."""
        if self.classifier is None:
            raise ValueError("this model has no classifier (a conditional VAE classifies by its bound)")
        return self.classifier(tokens, lengths, host_lengths)

    def forward(self, ids: Tensor, lengths: Tensor, labels: Tensor, *, decoder_inputs: Tensor | None = None,
                eps: Tensor | None = None, generator: torch.Generator | None = None,
                host_lengths: Sequence[int] | None = None) -> SentenceVAEOutput:
        """The VAE's teacher-forced pass with (B, F) ``labels`` as its condition."""
        return self.vae(ids, lengths, decoder_inputs=decoder_inputs, eps=eps, generator=generator,
                        host_lengths=host_lengths, condition=self.condition(labels))


def build_labelled_model(cfg: ModelConfig, vocab_size: int, pad_id: int, label_sizes: Sequence[int], *,
                         label_embed_dim: int, with_classifier: bool,
                         classifier: str = "shared") -> LabelledSentenceVAE:
    """The labelled model a config asks for (``labels.mode`` decides ``with_classifier``;
    ``classifier``: ``shared`` reads the VAE's encoder, ``separate`` has its own RNN)."""
    if cfg.model_type != "vae":
        raise ValueError("a labelled model needs model.model_type 'vae'")
    vae = build_model(cfg, vocab_size, pad_id, condition_dim=len(label_sizes) * label_embed_dim)
    head: nn.Module | None = None
    if with_classifier and classifier == "shared":
        head = SharedEncoderClassifier(vae, cfg.dropout, label_sizes[0])
    elif with_classifier:
        head = SentenceClassifier(vae.embedding, cfg.rnn_type, cfg.encoder_hidden_dim,
                                  cfg.encoder_layers, cfg.dropout, label_sizes[0])
    return LabelledSentenceVAE(vae, label_sizes, label_embed_dim, head)
