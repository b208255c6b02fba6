"""The sentence VAE's config: the ``model`` section of a text run (docs/configs.md, "model").

Its fields are the keyword arguments of :class:`~textvae.text.models.sentence_vae.SentenceVAE`
(``build_model`` passes them on as they are); ``__post_init__`` only validates, and refuses a
setting that contradicts another before any work (a ``ValueError``, which ``from_dict`` turns
into a ``ConfigError`` naming the key).
"""

from dataclasses import dataclass
from typing import Literal

from textvae.core import gaussian

MODEL_TYPES = ("vae", "lm")


@dataclass
class ModelConfig:
    """Hyperparameters of the sentence VAE / LM baseline. Defaults: the PTB-size model of
    Li et al. 2019 and Fu et al. 2019 (256 embedding, 256 hidden, 32 latent, LSTMs)."""

    model_type: Literal["vae", "lm"] = "vae"
    rnn_type: Literal["lstm", "gru"] = "lstm"  # the cell of an RNN encoder or decoder
    embed_dim: int = 256
    encoder_hidden_dim: int = 256  # RNN encoder only
    decoder_hidden_dim: int = 256  # RNN decoder only
    latent_dim: int = 32
    encoder_layers: int = 1  # RNN layers, or transformer blocks
    decoder_layers: int = 1
    bidirectional: bool = False  # RNN encoder only
    z_to_inputs: bool = False  # RNN decoder only
    tie_embeddings: bool = False
    dropout: float = 0.0
    # BN-VAE (Zhu et al. 2020): batch-normalize the posterior means with this fixed scale, which
    # keeps the expected KL above latent_dim * gamma^2 / 2; null: off.
    posterior_bn_gamma: float | None = None
    # DU-VAE (Shen et al. 2021) = posterior_bn_gamma plus dropout on the posterior variances in
    # training, above a floor of posterior_var_floor / (2 pi e) (gaussian.floored_log_variance).
    posterior_var_dropout: float = 0.0
    posterior_var_floor: float = 0.0
    # The network that reads the sentence and the one that writes it (docs/transformer.md):
    # "rnn" (an rnn_type RNN, as every checkpoint before these keys) or "transformer".
    encoder: Literal["rnn", "transformer"] = "rnn"
    decoder: Literal["rnn", "transformer"] = "rnn"
    # Transformer parts: width embed_dim, encoder_layers / decoder_layers pre-norm blocks.
    heads: int = 4
    ff_dim: int | None = None  # the blocks' feed-forward width; null: 4 * embed_dim
    positions: Literal["learned", "sinusoidal"] = "learned"
    max_positions: int = 256  # learned positions: the longest input, words + 1
    # How a transformer decoder reads z: "embedding" adds a projection of z to every input
    # embedding; "memory" (Li et al. 2020, Optimus) gives every layer memory_slots extra
    # key/value slots projected from z; "both" does the two (Optimus's own model).
    z_conditioning: Literal["embedding", "memory", "both"] = "memory"
    memory_slots: int = 1
    # How a transformer encoder's outputs become the posterior head's input: their mean over
    # the sentence's tokens, or the first token's.
    encoder_pooling: Literal["mean", "first"] = "mean"

    def __post_init__(self) -> None:
        for name in ("embed_dim", "encoder_hidden_dim", "decoder_hidden_dim", "latent_dim",
                     "encoder_layers", "decoder_layers", "heads", "max_positions", "memory_slots"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.ff_dim is not None and self.ff_dim <= 0:
            raise ValueError(f"model.ff_dim must be positive or null, got {self.ff_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.tie_embeddings and self.decoder == "rnn" and self.embed_dim != self.decoder_hidden_dim:
            raise ValueError("model.tie_embeddings needs embed_dim == decoder_hidden_dim "
                             "(an RNN decoder's output width)")
        if self.uses_transformer() and self.embed_dim % self.heads:
            raise ValueError(f"a transformer's width model.embed_dim ({self.embed_dim}) must be a "
                             f"multiple of model.heads ({self.heads})")
        if self.decoder == "transformer" and self.z_to_inputs:
            raise ValueError("model.z_to_inputs concatenates z to an RNN decoder's inputs; a "
                             "transformer decoder reads z by model.z_conditioning (embedding, "
                             "memory or both): set model.z_to_inputs=false")
        if self.encoder == "transformer" and self.bidirectional:
            raise ValueError("model.bidirectional is for an RNN encoder; a transformer encoder "
                             "reads both ways already: set model.bidirectional=false")
        gaussian.check_posterior_options(self.posterior_bn_gamma, self.posterior_var_dropout,
                                         self.posterior_var_floor)

    def uses_transformer(self) -> bool:
        """Whether the model has a transformer part (the LM baseline has no encoder)."""
        return self.decoder == "transformer" or (self.encoder == "transformer"
                                                 and self.model_type == "vae")

    def uses_rnn(self) -> bool:
        """Whether the model has an RNN part (what bf16 on some CPUs cannot run)."""
        return self.decoder == "rnn" or (self.encoder == "rnn" and self.model_type == "vae")

    def describe(self) -> str:
        """A short name of the architecture: ``LSTM``, ``transformer``, ``LSTM encoder,
        transformer decoder``."""
        names = {"rnn": self.rnn_type.upper(), "transformer": "transformer"}
        if self.model_type == "lm" or self.encoder == self.decoder:
            return names[self.decoder]
        return f"{names[self.encoder]} encoder, {names[self.decoder]} decoder"
