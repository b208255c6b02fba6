"""Tiny models and latents shared by the decoding tests.

Sizes are odd and distinct (vocab 37, latent 7, batch 5, embed 11, hidden 13/17) so that a
transposed dimension cannot pass by accident.
"""

import torch

from textvae.text.models.sentence_vae import SentenceVAE

V, Z, B, E, H_ENC, H_DEC = 37, 7, 5, 11, 13, 17
PAD, BOS, EOS = 0, 2, 3
ENDS = {"bos_id": BOS, "eos_id": EOS}


def tiny_model(*, seed=0, model_type="vae", rnn_type="lstm", layers=1, bidirectional=False,
               eos_bias=0.0):
    torch.manual_seed(seed)
    model = SentenceVAE(
        V, PAD, model_type=model_type, rnn_type=rnn_type, embed_dim=E, encoder_hidden_dim=H_ENC,
        decoder_hidden_dim=H_DEC, latent_dim=Z, encoder_layers=layers, decoder_layers=layers,
        bidirectional=bidirectional, z_to_inputs=False, tie_embeddings=False, dropout=0.0,
    )
    with torch.no_grad():
        # Make the untrained decoder peaky enough that decodes are not all the same token.
        model.output.weight.mul_(8.0)
        model.output.bias[EOS] += eos_bias
    return model.eval()


def varied_model():
    """A seed and eos bias for which the untrained model's decodes differ in length and words."""
    return tiny_model(seed=3, eos_bias=1.0)


def latents(seed=1, rows=B):
    """(rows, Z) standard-normal latent codes from a seeded generator."""
    return torch.randn(rows, Z, generator=torch.Generator().manual_seed(seed))
