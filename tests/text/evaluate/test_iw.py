"""textvae.text.evaluate.iw: the IW-NLL pass against the He et al. protocol (its oracle), batching
and chunking invariance, and the LM's exact NLL (vocab 37, latent 7, embed 11, hidden 13/17)."""

import math
from types import SimpleNamespace

import pytest
import torch

from textvae.core.objectives import reconstruction_nll
from textvae.text.evaluate.iw import iw_nll, iw_nll_reference, sentence_noise
from textvae.text.models.sentence_vae import SentenceVAE

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------- model level

V, Z, E, H_ENC, H_DEC = 37, 7, 11, 13, 17
TOK = SimpleNamespace(pad_id=0, unk_id=1, bos_id=2, eos_id=3)


def tiny_model(model_type="vae", seed=0):
    torch.manual_seed(seed)
    model = SentenceVAE(
        V, TOK.pad_id, model_type=model_type, rnn_type="lstm", embed_dim=E,
        encoder_hidden_dim=H_ENC, decoder_hidden_dim=H_DEC, latent_dim=Z, encoder_layers=1,
        decoder_layers=1, bidirectional=False, z_to_inputs=True, tie_embeddings=False,
        dropout=0.1,
    )
    if model.is_vae:
        with torch.no_grad():
            model.to_logvar.bias.fill_(-1.0)  # sharper posteriors than at init: K matters more
    return model


def sentences(count=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 10, (count,), generator=g)
    return [torch.randint(4, V, (int(n),), generator=g).tolist() for n in lengths]


def test_sentence_noise_depends_only_on_seed_and_index():
    a = sentence_noise(5, 3, 11, Z)
    assert a.shape == (11, Z)
    torch.testing.assert_close(a, sentence_noise(5, 3, 11, Z))
    assert not torch.equal(a, sentence_noise(5, 4, 11, Z))
    assert not torch.equal(a, sentence_noise(6, 3, 11, Z))


def test_iw_nll_matches_the_reference_protocol():
    model, ids = tiny_model(), sentences()
    fast = iw_nll(model, ids, TOK, samples=23, batch_size=5, seed=7)
    slow = iw_nll_reference(model, ids, TOK, samples=23, chunk=9, seed=7)
    torch.testing.assert_close(fast["iw_nll"], slow, atol=1e-4, rtol=0)
    assert model.training  # the mode is restored


def test_chunking_and_batching_do_not_change_the_result():
    model, ids = tiny_model(), sentences(seed=1)
    a = iw_nll(model, ids, TOK, samples=19, batch_size=13, seed=3)
    b = iw_nll(model, ids, TOK, samples=19, batch_size=3, chunk_rows=5, seed=3)
    c = iw_nll(model, ids, TOK, samples=19, batch_size=1, chunk_rows=1, seed=3)
    for other in (b, c):
        for key in ("iw_nll", "neg_elbo", "kl"):
            torch.testing.assert_close(a[key], other[key], atol=1e-4, rtol=0)
        torch.testing.assert_close(a["z"], other["z"], atol=1e-5, rtol=0)
    assert not torch.allclose(a["iw_nll"], iw_nll(model, ids, TOK, samples=19, seed=4)["iw_nll"])


def test_the_k_sample_bound_is_below_the_elbo_on_average():
    model, ids = tiny_model(), sentences(seed=2)
    runs = [iw_nll(model, ids, TOK, samples=1, seed=s) for s in range(40)]
    one = torch.stack([r["iw_nll"] for r in runs])  # (40, S) one-sample estimates
    elbo = torch.stack([r["neg_elbo"] for r in runs])  # closed-form KL: lower variance
    # K = 1 is the ELBO in expectation (the IW estimate uses a Monte Carlo KL).
    se = one.std(0) / math.sqrt(one.shape[0])
    assert ((one.mean(0) - elbo.mean(0)).abs() < 4 * se + 0.05).all()
    res = iw_nll(model, ids, TOK, samples=63, seed=0)
    torch.testing.assert_close(res["neg_elbo"], res["reconstruction"] + res["kl"])
    assert (res["iw_nll"] < elbo.mean(0)).all()
    assert res["iw_nll"].mean() < elbo.mean() - 0.1


def test_iw_nll_returns_posteriors_in_input_order():
    model, ids = tiny_model(), sentences(seed=3)
    res = iw_nll(model, ids, TOK, samples=3, batch_size=4, seed=0)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(*_framed(ids[5:6]))
    torch.testing.assert_close(res["mu"][5:6], mu, atol=1e-5, rtol=0)
    eps = sentence_noise(0, 5, 3, Z)[0]
    torch.testing.assert_close(res["z"][5], mu[0] + torch.exp(0.5 * res["logvar"][5]) * eps,
                               atol=1e-5, rtol=0)


def _framed(ids):
    from textvae.text.data.batching import collate

    batch = collate(ids, bos_id=TOK.bos_id, eos_id=TOK.eos_id, pad_id=TOK.pad_id)
    return batch.ids[:, 1:], batch.lengths


def test_lm_baseline_nll_is_exact():
    model, ids = tiny_model("lm"), sentences(seed=4)
    res = iw_nll(model, ids, TOK, samples=50, batch_size=4)
    from textvae.text.data.batching import collate

    model.eval()
    with torch.no_grad():
        batch = collate(ids, bos_id=TOK.bos_id, eos_id=TOK.eos_id, pad_id=TOK.pad_id)
        out = model(batch.ids, batch.lengths)
        exact = reconstruction_nll(out.logits, out.targets, batch.lengths).double()
    torch.testing.assert_close(res["iw_nll"], exact, atol=1e-4, rtol=0)
    assert res["mu"] is None
    torch.testing.assert_close(iw_nll_reference(model, ids, TOK), exact, atol=1e-4, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_iw_nll_on_cuda_matches_cpu():
    model, ids = tiny_model(), sentences(seed=5)
    cpu = iw_nll(model, ids, TOK, samples=17, seed=1)
    gpu = iw_nll(model.cuda(), ids, TOK, samples=17, seed=1, device="cuda")
    torch.testing.assert_close(cpu["iw_nll"], gpu["iw_nll"], atol=1e-3, rtol=0)
