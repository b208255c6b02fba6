"""The models keep the contracts of textvae.text.models.contracts: structurally (isinstance against the
runtime-checkable Protocols, which fails when a member is missing), and in use, through the
Protocol-typed consumers (greedy and beam decoding, validation, the collapse remedies).

mypy checks the same contracts statically (the bottom of textvae/text/models/contracts.py).
Sizes are odd and distinct (vocab 37, latent 7, batch 5) so that a transposed dimension fails.
"""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from textvae.text.generate import beam_search, greedy_decode
from textvae.text.models.contracts import SentenceDecoder, SentenceModel, UnconditionedSentenceModel
from textvae.text.models.labelled import build_labelled_model
from textvae.text.models.sentence_vae import ModelConfig, build_model
from textvae.text.training.remedies import decoder_modules, encoder_parameters, reset_decoder
from textvae.text.training.validate import evaluate_elbo

V, Z, B = 37, 7, 5
PAD, BOS, EOS = 0, 2, 3
SIZES = (3, 2)  # label factors of the labelled model
CFG = ModelConfig(embed_dim=11, encoder_hidden_dim=13, decoder_hidden_dim=17, latent_dim=Z)


def _vae(**overrides):
    torch.manual_seed(0)
    return build_model(ModelConfig(**{**CFG.__dict__, **overrides}), V, PAD).eval()


def _labelled(with_classifier=False):
    torch.manual_seed(0)
    return build_labelled_model(CFG, V, PAD, SIZES, label_embed_dim=5,
                                with_classifier=with_classifier).eval()


def _z(rows=B):
    return torch.randn(rows, Z, generator=torch.Generator().manual_seed(1))


def test_both_models_are_sentence_models_and_the_vae_decodes():
    vae, labelled = _vae(), _labelled()
    assert isinstance(vae, SentenceModel) and isinstance(labelled, SentenceModel)
    assert isinstance(vae, SentenceDecoder) and isinstance(vae, UnconditionedSentenceModel)
    assert isinstance(labelled.vae, SentenceDecoder)
    # The labelled model reads labels: it decodes only through its VAE and decoder_latent.
    assert not isinstance(labelled, SentenceDecoder)
    assert (labelled.is_vae, labelled.model_type, labelled.latent_dim) == (True, "vae", Z)


def test_a_model_without_a_member_breaks_the_contract():
    class NoReorder(nn.Module):
        def initial_state(self, z, batch_size):
            return torch.zeros(1, batch_size, 3)

        def decode_step(self, tokens, state, z):
            return torch.zeros(len(tokens), V), state

    assert not isinstance(NoReorder(), SentenceDecoder)
    vae = _vae()
    assert isinstance(vae, SentenceModel)
    del vae.latent_dim
    assert not isinstance(vae, SentenceModel)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_greedy_and_beam_decode_through_the_decoder_contract(rnn_type):
    vae = _vae(rnn_type=rnn_type)
    rows = greedy_decode(vae, _z(), bos_id=BOS, eos_id=EOS, max_len=9)
    assert len(rows) == B and all(len(r) <= 9 and all(0 <= t < V for t in r) for r in rows)
    assert beam_search(vae, _z(), bos_id=BOS, eos_id=EOS, max_len=9, beam_size=1) == rows
    labelled = _labelled()
    labels = torch.tensor([[0, 1], [2, 0], [1, 1], [0, 0], [2, 1]])  # (B, F)
    latent = labelled.decoder_latent(_z(), labels)  # (B, Z + F*Ey)
    assert latent.shape == (B, Z + 2 * 5)
    assert len(greedy_decode(labelled.vae, latent, bos_id=BOS, eos_id=EOS, max_len=9)) == B


def test_reorder_state_selects_and_repeats_rows():
    vae = _vae()
    h, c = vae.initial_state(_z(), B)  # (L, B, H) each
    index = torch.tensor([4, 4, 0])
    h2, c2 = vae.reorder_state((h, c), index)
    assert torch.equal(h2, h[:, index]) and torch.equal(c2, c[:, index])


def test_validation_takes_either_model():
    tokenizer = SimpleNamespace(bos_id=BOS, eos_id=EOS, pad_id=PAD)  # what the pass reads of one
    ids = [[5, 6, 7], [8, 9], [10, 11, 12, 13], [14], [15, 16]]  # B sentences
    plain = evaluate_elbo(_vae(), ids, tokenizer, batch_size=2, device=torch.device("cpu"), seed=0,
                          with_mutual_information=True)
    labelled = evaluate_elbo(_labelled(), ids, tokenizer, batch_size=2, device=torch.device("cpu"),
                             seed=0, labels=[[0, 1], [2, 0], [1, 1], [0, 0], [2, 1]])
    for figures in (plain, labelled):
        assert figures["sentences"] == B and figures["neg_elbo"] > 0 and figures["kl"] >= 0
    assert "mutual_information" in plain


def test_the_remedies_find_each_models_encoder_and_decoder():
    vae, labelled = _vae(), _labelled()
    assert [id(p) for p in encoder_parameters(labelled)] == [id(p) for p in encoder_parameters(labelled.vae)]
    # The RNN decoder part is an nn.LSTM (a subclass: textvae.text.models.rnn_parts).
    assert decoder_modules(vae) == [vae.latent_to_hidden, vae.decoder, vae.output]
    assert isinstance(vae.latent_to_hidden, nn.Linear) and isinstance(vae.decoder, nn.LSTM)
    embedding = {id(p) for p in vae.embedding.parameters()}
    assert not embedding & {id(p) for p in encoder_parameters(vae)}
    lm = _vae(model_type="lm")
    assert encoder_parameters(lm) == [] and decoder_modules(lm) == [lm.decoder, lm.output]


def test_the_decoder_reset_keeps_a_tied_output_weight():
    vae = _vae(tie_embeddings=True, embed_dim=17)
    before = {name: p.detach().clone() for name, p in vae.named_parameters()}
    optimizer = torch.optim.Adam(vae.parameters())
    reset_decoder(vae, optimizer, seed=5)
    after = dict(vae.named_parameters())
    assert torch.equal(after["embedding.weight"], before["embedding.weight"])  # = output.weight
    assert not torch.equal(after["decoder.weight_hh_l0"], before["decoder.weight_hh_l0"])
    assert not torch.equal(after["output.bias"], before["output.bias"])
    assert torch.equal(after["encoder.weight_hh_l0"], before["encoder.weight_hh_l0"])
