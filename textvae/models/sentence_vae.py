"""The sentence VAE of Bowman et al. 2016, and its LM baseline.

(Model code to be written; the config below is the contract the rest of textvae builds on.)
"""

from dataclasses import dataclass
from typing import Literal


@dataclass
class ModelConfig:
    """Hyperparameters of the sentence VAE / LM baseline. Defaults: the PTB-size model of
    Li et al. 2019 and Fu et al. 2019 (256 embedding, 256 hidden, 32 latent)."""

    model_type: Literal["vae", "lm"] = "vae"
    rnn_type: Literal["lstm", "gru"] = "lstm"
    embed_dim: int = 256
    encoder_hidden_dim: int = 256
    decoder_hidden_dim: int = 256
    latent_dim: int = 32
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = False
    z_to_inputs: bool = False
    tie_embeddings: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("embed_dim", "encoder_hidden_dim", "decoder_hidden_dim", "latent_dim",
                     "encoder_layers", "decoder_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.tie_embeddings and self.embed_dim != self.decoder_hidden_dim:
            raise ValueError("model.tie_embeddings needs embed_dim == decoder_hidden_dim")
