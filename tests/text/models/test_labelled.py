"""The labelled sentence VAE: the condition reaches encoder and decoder, the classifier's shape."""

import pytest
import torch

from textvae.text.models.labelled import build_labelled_model
from textvae.text.models.sentence_vae import ModelConfig, build_model

SIZES = (3, 2)  # two factors: 3 and 2 classes
CFG = ModelConfig(embed_dim=11, encoder_hidden_dim=13, decoder_hidden_dim=17, latent_dim=7, z_to_inputs=True)


def _batch():
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])  # [bos, words, eos, pad]
    return ids, torch.tensor([4, 2])


def test_the_labels_change_the_posterior_and_the_decoder_output():
    torch.manual_seed(0)
    model = build_labelled_model(CFG, 19, 0, SIZES, label_embed_dim=5, with_classifier=False).eval()
    ids, lengths = _batch()
    a, b = torch.tensor([[0, 1], [2, 0]]), torch.tensor([[1, 1], [2, 0]])
    mu_a, _ = model.encode(ids[:, 1:], lengths, a)
    mu_b, _ = model.encode(ids[:, 1:], lengths, b)
    assert mu_a.shape == (2, 7)
    assert not torch.allclose(mu_a[0], mu_b[0]) and torch.allclose(mu_a[1], mu_b[1])
    eps = torch.zeros(2, 7)
    out_a, out_b = model(ids, lengths, a, eps=eps), model(ids, lengths, b, eps=eps)
    assert out_a.logits.shape == (6, 19)
    assert not torch.allclose(out_a.logits[:4], out_b.logits[:4])
    assert model.decoder_latent(torch.zeros(2, 7), a).shape == (2, 7 + 2 * 5)


def test_the_classifier_gives_logits_of_its_factor():
    separate = build_labelled_model(CFG, 19, 0, SIZES, label_embed_dim=5, with_classifier=True,
                                    classifier="separate")
    ids, lengths = _batch()
    assert separate.classify(ids[:, 1:], lengths).shape == (2, 3)
    assert separate.classifier.embedding is separate.vae.embedding  # one table, shared
    model = build_labelled_model(CFG, 19, 0, SIZES, label_embed_dim=5, with_classifier=True)
    assert model.classify(ids[:, 1:], lengths).shape == (2, 3)
    # The shared head reads the VAE's encoder: its weights are saved once, under the VAE.
    assert [k for k in model.state_dict() if k.startswith("classifier.")] == [
        "classifier.to_logits.weight", "classifier.to_logits.bias"]
    logits = model.classify(ids[:, 1:], lengths)
    logits.sum().backward()
    assert model.vae.encoder.weight_ih_l0.grad is not None
    conditional = build_labelled_model(CFG, 19, 0, SIZES, label_embed_dim=5, with_classifier=False)
    with pytest.raises(ValueError, match="no classifier"):
        conditional.classify(ids[:, 1:], lengths)


def test_a_conditioned_vae_refuses_a_missing_condition_and_a_plain_one_refuses_a_condition():
    conditioned = build_model(CFG, 19, 0, condition_dim=4)
    plain = build_model(CFG, 19, 0)
    ids, lengths = _batch()
    with pytest.raises(ValueError, match="condition of size 4"):
        conditioned.encode(ids[:, 1:], lengths)
    with pytest.raises(ValueError, match="no condition"):
        plain.encode(ids[:, 1:], lengths, condition=torch.zeros(2, 4))
