"""The sentence VAE of Bowman et al. 2016 ("Generating Sentences from a Continuous Space"), and its
LM baseline, with an RNN or transformer encoder and decoder (:mod:`textvae.text.models.registry`).

Reads top to bottom: the output, the model, the builder; the config (a contract the rest of
textvae builds on) is :mod:`textvae.text.models.model_config`'s.

Batch framing (contract with the data pipeline). A batch is ``ids`` (B, T+1), row b being
``[bos, w_1..w_n, eos, pad, ...]``, and ``lengths`` (B,) with ``lengths[b] = n + 1`` (words + eos,
the number of prediction targets). Then:

- encoder input = ``ids[:, 1:]`` (words + eos, ``lengths`` long),
- decoder input = ``ids[:, :-1]`` (bos + words; the training loop may apply word dropout first),
- targets       = ``ids[:, 1:]``; positions ``t >= lengths[b]`` are padding.

Shape legend:
    B = batch, T = time steps, V = vocabulary, E = embedding size, Z = latent size,
    C = condition size, S = the encoder's summary size, H = the decoder's output size,
    P = the width of z's projection the decoder reads,
    N = number of non-pad target positions in the batch (= lengths.sum()).

Host lengths. What the host must know of a batch (padding, packing, non-pad positions) it reads
from ``host_lengths``, the lengths as Python ints (``Batch.host_lengths``, counted in ``collate``),
so a forward pass never waits for a GPU; without them the model reads ``lengths`` once.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple, overload

import torch
from torch import Tensor, nn

from textvae.core import gaussian
from textvae.text.models.model_config import MODEL_TYPES, ModelConfig
from textvae.text.models.parts import DecoderPart, EncoderPart, LatentProjection
from textvae.text.models.positions import full_precision, gather_rows, nonpad_positions, on_host
from textvae.text.models.registry import DECODERS, ENCODERS, DecoderState, PartOptions

# ModelConfig and MODEL_TYPES live in model_config.py; older code imports them from here.
__all__ = ["MODEL_TYPES", "ModelConfig", "SentenceVAE", "SentenceVAEOutput", "build_model",
           "with_condition"]


class SentenceVAEOutput(NamedTuple):
    """What ``SentenceVAE.forward`` returns.

    Rows of ``logits`` and ``targets`` are the non-pad positions in row-major order over (b, t):
    all of sentence 0's ``lengths[0]`` positions, then sentence 1's, and so on. So per-sentence
    sums of a per-token quantity ``x`` (N,) are ``torch.segment_reduce(x, "sum", lengths=lengths)``,
    or ``x.new_zeros(B).index_add_(0, sentence, x)`` with ``sentence`` (N,) the row's sentence.

    Attributes:
        logits: (N, V) decoder logits at the non-pad positions.
        targets: (N,) target ids for those rows.
        mu: (B, Z) posterior means, or None for the LM baseline.
        logvar: (B, Z) posterior log-variances, or None for the LM baseline.
        z: (B, Z) the sample the decoder was conditioned on, or None for the LM baseline.
        lengths: (B,) targets per sentence (the row counts of each sentence's block).
    """

    logits: Tensor
    targets: Tensor
    mu: Tensor | None
    logvar: Tensor | None
    z: Tensor | None
    lengths: Tensor

    def latent(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(mu, logvar, z)``, each (B, Z); a ValueError for the LM baseline, which has none."""
        if self.mu is None or self.logvar is None or self.z is None:
            raise ValueError("the LM baseline (model_type='lm') has no latent")
        return self.mu, self.logvar, self.z


class SentenceVAE(nn.Module):
    """Encoder -> diagonal Gaussian q(z|x) -> language model conditioned on z, the encoder and
    the decoder each an RNN or a transformer (``encoder``, ``decoder``: the parts of
    :mod:`textvae.text.models.registry`).

    With ``model_type="lm"`` it is the plain language model baseline: no encoder, no latent,
    a fixed initial decoder state.

    :class:`ModelConfig` is the one place that holds the arguments (the later ones have
    defaults so that older callers need not name them), and :func:`build_model` passes them on.
    It keeps the contracts of :mod:`textvae.text.models.contracts` (a sentence model, and a
    decoder whose state is the decoder part's: :data:`~textvae.text.models.registry.DecoderState`).

    One ``nn.Embedding`` is shared by encoder and decoder (and, with ``tie_embeddings``, by the
    output projection): both read the same vocabulary, sharing saves a second (V, E) table,
    and words the decoder rarely predicts still get trained through the encoder.

    Args:
        vocab_size: V.
        pad_id: id of the padding token. Its embedding starts at zero and gets no gradient from
            lookups; it is only ever read at padding positions, which never reach an output.
        model_type: ``"vae"`` or ``"lm"``.
        rnn_type: ``"lstm"`` or ``"gru"``, the cell of an RNN encoder or decoder.
        embed_dim: E (also a transformer's width).
        encoder_hidden_dim: an RNN encoder's H per direction.
        decoder_hidden_dim: an RNN decoder's H.
        latent_dim: Z.
        encoder_layers: encoder layers (RNN layers or transformer blocks).
        decoder_layers: decoder layers.
        bidirectional: whether an RNN encoder is bidirectional (the decoder never is).
        z_to_inputs: also concatenate z to every RNN decoder input embedding.
        tie_embeddings: share the output projection's weight with the embedding table
            (an RNN decoder needs ``embed_dim == decoder_hidden_dim``).
        dropout: dropout on embeddings, inside the encoder and decoder, and on decoder outputs.
        condition_dim: C, the size of a condition vector c (a labelled model's label
            embeddings, :mod:`textvae.text.models.labelled`) that the posterior heads read beside the
            encoder summary, q(z | x, c), and the decoder beside z, p(x | z, c): its ``z`` is
            then the (B, Z + C) concatenation ``[z, c]``. 0: no condition.
        encoder, decoder: ``"rnn"`` or ``"transformer"``.
        heads, ff_dim, positions, max_positions, z_conditioning, memory_slots, encoder_pooling:
            the transformer parts' (docs/transformer.md); ``ff_dim`` None is 4 E.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        *,
        model_type: str,
        rnn_type: str,
        embed_dim: int,
        encoder_hidden_dim: int,
        decoder_hidden_dim: int,
        latent_dim: int,
        encoder_layers: int,
        decoder_layers: int,
        bidirectional: bool,
        z_to_inputs: bool,
        tie_embeddings: bool,
        dropout: float,
        posterior_bn_gamma: float | None = None,
        condition_dim: int = 0,
        posterior_var_dropout: float = 0.0,
        posterior_var_floor: float = 0.0,
        encoder: str = "rnn",
        decoder: str = "rnn",
        heads: int = 4,
        ff_dim: int | None = None,
        positions: str = "learned",
        max_positions: int = 256,
        z_conditioning: str = "memory",
        memory_slots: int = 1,
        encoder_pooling: str = "mean",
    ) -> None:
        super().__init__()
        if model_type not in MODEL_TYPES:
            raise ValueError(f"unknown model_type {model_type!r}; valid: {list(MODEL_TYPES)}")
        for role, kind, registry in (("encoder", encoder, ENCODERS), ("decoder", decoder, DECODERS)):
            if kind not in registry:
                raise ValueError(f"unknown {role} {kind!r}; valid: {sorted(registry)}")
        if tie_embeddings and decoder == "rnn" and embed_dim != decoder_hidden_dim:
            raise ValueError("tie_embeddings needs embed_dim == decoder_hidden_dim")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} is outside the vocabulary of size {vocab_size}")
        self.model_type = model_type
        self.rnn_type = rnn_type
        self.encoder_kind, self.decoder_kind = encoder, decoder
        self.vocab_size, self.pad_id = vocab_size, pad_id
        self.latent_dim = latent_dim
        self.condition_dim = condition_dim
        gaussian.check_posterior_options(posterior_bn_gamma, posterior_var_dropout, posterior_var_floor)
        self.var_dropout, self.var_floor = posterior_var_dropout, posterior_var_floor  # DU-VAE
        self.is_vae = model_type == "vae"
        # z is concatenated to the inputs only when there is a z.
        self.z_to_inputs = z_to_inputs and self.is_vae
        options = PartOptions(
            rnn_type=rnn_type, embed_dim=embed_dim, encoder_hidden_dim=encoder_hidden_dim,
            decoder_hidden_dim=decoder_hidden_dim, encoder_layers=encoder_layers,
            decoder_layers=decoder_layers, bidirectional=bidirectional, dropout=dropout,
            decoder_input_dim=embed_dim + (latent_dim + condition_dim if self.z_to_inputs else 0),
            conditioned=self.is_vae, heads=heads, ff_dim=ff_dim or 4 * embed_dim,
            positions=positions, max_positions=max_positions, z_conditioning=z_conditioning,
            memory_slots=memory_slots, encoder_pooling=encoder_pooling)

        # The parameters are made in this order (the RNN model's since the first release, so a
        # seed gives the same weights): embedding, encoder, heads, z's projection, decoder, output.
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        # Small uniform init (as in PyTorch's word_language_model): with the default N(0, 1) a
        # tied output layer would start with logits of size ~sqrt(H).
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()
        self.dropout = nn.Dropout(dropout)

        if self.is_vae:
            self.encoder: EncoderPart = ENCODERS[encoder](options)
            summary_dim = self.encoder.summary_dim + condition_dim  # S+C
            self.to_mu = nn.Linear(summary_dim, latent_dim)
            self.to_logvar = nn.Linear(summary_dim, latent_dim)
            self.mu_norm = (None if posterior_bn_gamma is None
                            else gaussian.FixedScaleBatchNorm(latent_dim, posterior_bn_gamma))  # BN-VAE
            # [z, c] -> what the decoder reads of them, (B, Z+C) -> (B, P): an RNN's initial
            # state of every layer, a transformer's embedding or memory slots.
            self.latent_to_hidden = LatentProjection(latent_dim + condition_dim,
                                                     DECODERS[decoder].latent_width(options),
                                                     DECODERS[decoder].added_width(options))

        self.decoder: DecoderPart[Any] = DECODERS[decoder].build(options)
        self.output = nn.Linear(self.decoder.output_dim, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.weight  # one Parameter, (V, E) with E == H

    # ----------------------------------------------------------------------------- encoder

    def encode(
        self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None,
        condition: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Posterior parameters of q(z | x) (of q(z | x, c) given a (B, C) ``condition``).

        Args:
            tokens: (B, T) encoder input, words + eos then padding (``ids[:, 1:]``).
            lengths: (B,) true lengths, each >= 1.
            host_lengths: the same lengths as Python ints; default: read from ``lengths``.

        Returns:
            ``(mu, logvar)``, each (B, Z).
        """
        return self.posterior(self.summarize(tokens, lengths, host_lengths), condition)

    def summarize(self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None
                  ) -> Tensor:
        """The encoder part's summary of each sentence: (B, T) -> (B, S) (an RNN's final state of
        every layer and direction, L*D*H; a transformer's pooled outputs, E)."""
        if not self.is_vae:
            raise ValueError("the LM baseline (model_type='lm') has no encoder")
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        return self.encoder.summarize(x, on_host(lengths, host_lengths))  # (B, S)

    def posterior(self, summary: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, S) summaries [and (B, C) conditions] -> ``(mu, logvar)``, each (B, Z)."""
        if (condition is None) != (self.condition_dim == 0):
            raise ValueError(f"this model takes a condition of size {self.condition_dim}"
                             if self.condition_dim else "this model takes no condition")
        if condition is not None:
            summary = torch.cat([summary, condition.to(summary.dtype)], dim=1)  # (B, S+C)
        # The posterior parameters stay in float32 even under autocast: they are tiny, and a
        # bfloat16 mu (8-bit mantissa) would blur z and the KL.
        with full_precision(summary):
            summary = summary.float()
            mu = self.to_mu(summary)  # (B, Z)
            if self.mu_norm is not None:
                mu = self.mu_norm(mu)
            logvar = gaussian.floored_log_variance(self.to_logvar(summary), self.var_floor,
                                                   self.var_dropout, self.training)
            return mu, logvar  # (B, Z) each

    def reparameterize(
        self,
        mu: Tensor,
        logvar: Tensor,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) drawn from ``generator``, or given. (B, Z)."""
        return gaussian.reparameterize(mu, logvar, generator=generator, eps=eps)

    # ----------------------------------------------------------------------------- decoder

    def initial_state(self, z: Tensor | None, batch_size: int) -> DecoderState:
        """Initial decoder state: from (B, Z) z for the VAE, a fixed one for the LM baseline (z
        None, ``batch_size`` rows). The decoder part's own: for an RNN (L, B, H), or an
        ``(h, c)`` pair of those for an LSTM (:func:`textvae.text.models.rnn.init_state` says
        how z sets h and c); for a transformer its key/value cache
        (:class:`~textvae.text.models.transformer.KVCache`)."""
        self._check_z(z)
        return self.decoder.initial_state(self._latent(z), batch_size)

    def _latent(self, z: Tensor | None) -> Tensor | None:
        """(B, Z[+C]) z -> (B, P), what the decoder part reads of it; float32 like z itself."""
        if z is None:
            return None
        with full_precision(z):
            return self.latent_to_hidden(z.float())

    def _check_z(self, z: Tensor | None) -> None:
        if self.is_vae and z is None:
            raise ValueError("a VAE decoder needs z (sample it from the prior to generate)")
        if not self.is_vae and z is not None:
            raise ValueError("the LM baseline takes no z")

    def _decoder_inputs(self, tokens: Tensor, z: Tensor | None) -> Tensor:
        """Embed decoder tokens (B, T) -> (B, T, E), plus z on every step if ``z_to_inputs``."""
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        if self.z_to_inputs:
            if z is None:  # z_to_inputs holds for a VAE only, whose decoder needs z
                raise ValueError("a VAE decoder needs z (sample it from the prior to generate)")
            z_steps = z.unsqueeze(1).expand(-1, tokens.shape[1], -1)  # (B, T, Z)
            x = torch.cat([x, z_steps], dim=-1)  # (B, T, E+Z)
        return x

    def decode(
        self,
        inputs: Tensor,
        lengths: Tensor,
        z: Tensor | None,
        host_lengths: Sequence[int] | None = None,
    ) -> Tensor:
        """Teacher-forced decoder logits at the non-pad positions only.

        The decoder part runs over the padded batch whole (padding sits at the end, and no
        position reads a later one), then the output projection runs only on the N real positions in one
        (N, H) x (H, V) matmul: no vocabulary-sized work is spent on padding.

        Args:
            inputs: (B, T) decoder input, bos + words then padding (``ids[:, :-1]``).
            lengths: (B,) number of real positions per row.
            z: (B, Z) latent codes, or None for the LM baseline.
            host_lengths: the same lengths as Python ints; default: read from ``lengths``.

        Returns:
            (N, V) logits, N = ``lengths.sum()``, rows in row-major order over (b, t) with
            ``t < lengths[b]``: sentence 0's positions in order, then sentence 1's, ...
        """
        positions = nonpad_positions(on_host(lengths, host_lengths), inputs.shape[1],
                                     inputs.device)
        return self._decode(inputs, z, positions)

    def _decode(self, inputs: Tensor, z: Tensor | None, positions: Tensor | None) -> Tensor:
        """:meth:`decode` given the non-pad positions (:func:`nonpad_positions`)."""
        self._check_z(z)
        latent = self._latent(z)  # (B, P)
        outputs = self.decoder.run(self._decoder_inputs(inputs, z), latent)  # (B, T, H)
        hidden = gather_rows(outputs, positions)  # (N, H), row-major over (b, t)
        return self.output(self.dropout(hidden))  # (N, V)

    def decode_step(
        self, tokens: Tensor, state: DecoderState, z: Tensor | None
    ) -> tuple[Tensor, DecoderState]:
        """Advance the decoder by one token (for generation).

        Feeding bos and then the words one at a time from ``initial_state(z, B)`` reproduces
        :meth:`decode` (in eval mode).

        Args:
            tokens: (B,) the current input token of each sequence.
            state: decoder state from :meth:`initial_state` or a previous step.
            z: (B, Z) latent codes, or None for the LM baseline.

        Returns:
            ``(logits, state)``: (B, V) next-token logits and the new state.
        """
        self._check_z(z)
        x = self._decoder_inputs(tokens.unsqueeze(1), z)  # (B, 1, E[+Z])
        output, state = self.decoder.step(x, state)  # (B, H)
        return self.output(self.dropout(output)), state  # (B, V)

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        """Select or repeat rows of a decoder state by (B',) indices (beam search)."""
        return self.decoder.reorder_state(state, index)

    def encoder_modules(self) -> list[nn.Module]:
        """The inference network's own modules: the encoder part and the mu and logvar heads
        (not the embedding, which the decoder shares); empty for the LM baseline."""
        return [self.encoder, self.to_mu, self.to_logvar] if self.is_vae else []

    def decoder_modules(self) -> list[nn.Linear | DecoderPart[Any]]:
        """The generative network's own modules: z's projection, the decoder part and the
        output layer (whose weight, under ``tie_embeddings``, is the embedding's)."""
        head = [self.latent_to_hidden] if self.is_vae else []
        return [*head, self.decoder, self.output]

    # ----------------------------------------------------------------------------- both

    def forward(
        self,
        ids: Tensor,
        lengths: Tensor,
        *,
        decoder_inputs: Tensor | None = None,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
        host_lengths: Sequence[int] | None = None,
        condition: Tensor | None = None,
        encoder_inputs: tuple[Tensor, Tensor, Sequence[int]] | None = None,
    ) -> SentenceVAEOutput:
        """Encode, sample z, decode with teacher forcing.

        Args:
            ids: (B, T+1) framed batch ``[bos, words, eos, pad...]``.
            lengths: (B,) targets per sentence (words + eos).
            decoder_inputs: (B, T) decoder input, e.g. after word dropout; default
                ``ids[:, :-1]``.
            generator: optional seeded generator for the reparameterization noise.
            eps: (B, Z) the reparameterization noise itself (overrides ``generator``).
            host_lengths: ``lengths`` as Python ints (``Batch.host_lengths``); given, the pass
                never waits for the device. Default: read from ``lengths``.
            condition: (B, C) the condition vector c, for a model built with ``condition_dim``.
            encoder_inputs: what the encoder reads instead of the sentence, e.g. after word
                deletion: (B, T') tokens, (B,) lengths and those lengths as Python ints.

        Returns:
            A :class:`SentenceVAEOutput`; ``logits``/``targets`` rows are grouped by sentence.
        """
        targets_padded = ids[:, 1:]  # (B, T): words + eos, also the encoder input
        if decoder_inputs is None:
            decoder_inputs = ids[:, :-1]  # (B, T): bos + words
        host_lengths = on_host(lengths, host_lengths)
        mu = logvar = z = None
        if self.is_vae:
            seen = encoder_inputs or (targets_padded, lengths, host_lengths)
            mu, logvar = self.encode(*seen, condition)  # (B, Z) each
            z = self.reparameterize(mu, logvar, generator=generator, eps=eps)  # (B, Z)
        positions = nonpad_positions(host_lengths, targets_padded.shape[1], ids.device)  # (N,)
        logits = self._decode(decoder_inputs, with_condition(z, condition), positions)  # (N, V)
        targets = gather_rows(targets_padded.unsqueeze(-1), positions).squeeze(-1)  # (N,)
        return SentenceVAEOutput(logits, targets, mu, logvar, z, lengths)


@overload
def with_condition(z: Tensor, condition: Tensor | None) -> Tensor: ...
@overload
def with_condition(z: None, condition: Tensor | None) -> None: ...
def with_condition(z: Tensor | None, condition: Tensor | None) -> Tensor | None:
    """The decoder's conditioning input: (B, Z) z, or (B, Z + C) ``[z, c]`` with a condition."""
    if z is None or condition is None:
        return z
    return torch.cat([z, condition.to(z.dtype)], dim=1)


def build_model(cfg: ModelConfig, vocab_size: int, pad_id: int, condition_dim: int = 0) -> SentenceVAE:
    """Turn a :class:`ModelConfig` into a :class:`SentenceVAE` (the only reader of the config):
    V and ``pad_id`` come from the tokenizer, C (``condition_dim``) from a labelled model's label
    embeddings. The model is on the CPU; the caller moves it to a device."""
    # Every config field is a constructor argument of the same name.
    return SentenceVAE(vocab_size, pad_id, condition_dim=condition_dim, **dataclasses.asdict(cfg))
