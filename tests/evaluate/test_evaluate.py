"""Evaluation estimators against exact answers, and the model-level passes against an oracle.

The linear-Gaussian latent model p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I) has an analytic
marginal, log p(x) = log N(x; b, W W^T + s^2 I), and an analytic ELBO for any diagonal q, so the
importance-weighted estimator can be checked exactly. Sizes are odd and distinct (data 5,
latent 3, points 7; vocab 37, latent 7, embed 11, hidden 13/17).
"""

import math
import random
from types import SimpleNamespace

import pytest
import torch
from torch.distributions import MultivariateNormal

from textvae.api import TextVAE
from textvae.data.tokenizers import WordTokenizer
from textvae.evaluate import (
    distinct_n,
    evaluate,
    format_report,
    iw_nll,
    iw_nll_reference,
    reconstruction_bleu,
    self_bleu,
)
from textvae.evaluate.iw import sentence_noise
from textvae.metrics import iw_log_weights, iw_nll_from_log_weights, mutual_information
from textvae.models.gaussian import kl_standard_normal
from textvae.models.sentence_vae import SentenceVAE
from textvae.objectives import reconstruction_nll

pytestmark = pytest.mark.usefixtures("one_thread")

D, LZ, S = 5, 3, 7  # data dim, latent dim, data points of the linear-Gaussian model
S2 = 0.5  # observation noise variance s^2

# ---------------------------------------------------------------------------- linear Gaussian


def linear_gaussian(seed=0, *, orthogonal=False, shift=0.0, inflate=2.0):
    """A linear-Gaussian model, S points drawn from it, and a deliberately imperfect diagonal q.

    q(z|x) has the exact posterior mean shifted by ``shift`` and the diagonal of the exact
    (correlated) posterior covariance multiplied by ``inflate``: a diagonal, over-dispersed
    proposal, so the weights are light-tailed and the large-K check can be tight. With
    ``orthogonal`` columns of W the exact posterior is diagonal, so shift 0 and inflate 1 make q
    exact.
    """
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, LZ, generator=g, dtype=torch.float64)
    if orthogonal:
        q, _ = torch.linalg.qr(w)  # (D, Z) orthonormal columns
        w = q * torch.tensor([1.5, 0.7, 2.2], dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    z_true = torch.randn(S, LZ, generator=g, dtype=torch.float64)
    x = z_true @ w.T + b + math.sqrt(S2) * torch.randn(S, D, generator=g, dtype=torch.float64)
    precision = torch.eye(LZ, dtype=torch.float64) + w.T @ w / S2  # (Z, Z)
    cov = torch.linalg.inv(precision)
    post_mean = (x - b) @ w @ cov / S2  # (S, Z)
    mu = post_mean + shift
    logvar = torch.log(inflate * torch.diagonal(cov)).expand(S, LZ).clone()
    marginal = MultivariateNormal(b, w @ w.T + S2 * torch.eye(D, dtype=torch.float64))
    return SimpleNamespace(w=w, b=b, x=x, mu=mu, logvar=logvar, exact=marginal.log_prob(x))


def log_px_given_z(m, z):
    """log N(x; W z + b, s^2 I) for z (S, ..., Z) -> (S, ...)."""
    mean = z @ m.w.T + m.b  # (S, ..., D)
    x = m.x.view(S, *([1] * (z.dim() - 2)), D)
    return (-0.5 * (math.log(2 * math.pi * S2) + (x - mean).pow(2) / S2)).sum(-1)


def analytic_neg_elbo(m):
    """-E_q[log p(x|z)] + KL(q || N(0, I)), in closed form. (S,)"""
    var = m.logvar.exp()  # (S, Z)
    resid = (m.x - m.mu @ m.w.T - m.b).pow(2).sum(1)  # (S,)
    trace = (var * m.w.pow(2).sum(0)).sum(1)  # tr(W diag(var) W^T)
    expected_ll = -0.5 * D * math.log(2 * math.pi * S2) - (resid + trace) / (2 * S2)
    return -expected_ll + kl_standard_normal(m.mu, m.logvar).sum(1)


def iw_estimates(m, reps, k, seed):
    """(S, reps) independent K-sample IW-NLL estimates."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(S, reps, k, LZ, generator=g, dtype=torch.float64)
    z = m.mu[:, None, None] + torch.exp(0.5 * m.logvar)[:, None, None] * eps  # (S, R, K, Z)
    mu = m.mu[:, None].expand(S, reps, LZ)
    logvar = m.logvar[:, None].expand(S, reps, LZ)
    return iw_nll_from_log_weights(iw_log_weights(log_px_given_z(m, z), z, mu, logvar))


def test_exact_posterior_gives_the_exact_likelihood_at_k_1():
    # With orthogonal columns of W the true posterior is diagonal: every weight is p(x).
    m = linear_gaussian(3, orthogonal=True, shift=0.0, inflate=1.0)
    est = iw_estimates(m, reps=5, k=1, seed=0)  # (S, 5)
    torch.testing.assert_close(est, -m.exact[:, None].expand(S, 5), atol=1e-9, rtol=0)
    torch.testing.assert_close(analytic_neg_elbo(m), -m.exact, atol=1e-9, rtol=0)


def test_k_1_equals_the_elbo_in_expectation():
    m = linear_gaussian(0)
    est = iw_estimates(m, reps=20000, k=1, seed=1)  # (S, R)
    se = est.std(1) / math.sqrt(est.shape[1])
    gap = (est.mean(1) - analytic_neg_elbo(m)).abs()
    assert (gap < 4 * se).all(), (gap, se)
    assert (analytic_neg_elbo(m) > -m.exact + 1.0).all()  # q is imperfect: K matters here


def test_iw_bound_tightens_with_k_and_reaches_the_exact_value():
    m = linear_gaussian(0)
    n = 20000  # samples per point; E[L_K] is estimated over the n / K disjoint blocks
    g = torch.Generator().manual_seed(2)
    eps = torch.randn(S, n, LZ, generator=g, dtype=torch.float64)
    z = m.mu[:, None] + torch.exp(0.5 * m.logvar)[:, None] * eps  # (S, n, Z)
    log_w = iw_log_weights(log_px_given_z(m, z), z, m.mu, m.logvar)  # (S, n)
    means = []
    for k in (1, 10, 100, 1000):
        blocks = log_w.view(S, n // k, k)
        means.append(iw_nll_from_log_weights(blocks).mean(1))  # (S,)
    for tighter, looser in zip(means[1:], means[:-1], strict=True):
        assert (tighter <= looser).all()
    # An upper bound on the truth on average, up to Monte Carlo noise.
    assert (means[-1] > -m.exact - 0.02).all()
    # K = 5000 (mean of 8 estimates): within 0.03 nats of the exact -log p(x), where the K = 1
    # gap is over 1 nat.
    big = iw_estimates(m, reps=8, k=5000, seed=4).mean(1)
    assert (big + m.exact).abs().max() < 0.03


# ---------------------------------------------------------------------------- mutual information


def test_mi_of_well_separated_posteriors_is_log_m():
    m_points, copies = 7, 5
    g = torch.Generator().manual_seed(0)
    centres = 20.0 * torch.randn(m_points, LZ, generator=g)
    mu = centres.repeat(copies, 1)  # x uniform over 7 points, each seen 5 times
    logvar = torch.full_like(mu, math.log(0.1**2))
    z = mu + 0.1 * torch.randn(mu.shape, generator=g)
    assert mutual_information(mu, logvar, z) == pytest.approx(math.log(m_points), abs=1e-6)


def test_mi_of_identical_posteriors_is_zero():
    mu = torch.full((13, LZ), 0.3)
    logvar = torch.full((13, LZ), -0.5)
    z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    assert mutual_information(mu, logvar, z) == pytest.approx(0.0, abs=1e-9)


def test_mi_of_a_gaussian_channel():
    # x ~ N(0, tau^2 I), q(z|x) = N(x, sigma^2 I): I = Z/2 log(1 + tau^2 / sigma^2) nats.
    n, tau, sigma = 4001, 1.0, 0.5
    g = torch.Generator().manual_seed(2)
    mu = tau * torch.randn(n, LZ, generator=g)
    logvar = torch.full_like(mu, 2 * math.log(sigma))
    z = mu + sigma * torch.randn(mu.shape, generator=g)
    exact = 0.5 * LZ * math.log(1 + tau**2 / sigma**2)  # 2.414
    est = mutual_information(mu, logvar, z, chunk=97)
    assert est == pytest.approx(exact, abs=0.06)
    # Chunking only changes how the rows are grouped.
    assert mutual_information(mu, logvar, z, chunk=n) == pytest.approx(est, abs=1e-9)


# ---------------------------------------------------------------------------- text metrics


def test_distinct_n_counts_unique_ngrams():
    sents = [["a", "b", "a"], ["a", "b"]]
    assert distinct_n(sents, 1) == pytest.approx(2 / 5)
    assert distinct_n(sents, 2) == pytest.approx(2 / 3)  # (a b), (b a), (a b)
    assert distinct_n([["a"]], 2) == 0.0


def test_bleu_extremes():
    texts = ["the cat sat on the mat .", "a dog ran in the park today ."]
    assert reconstruction_bleu(texts, texts) == pytest.approx(100.0)
    assert reconstruction_bleu(["x y z w v"] * 2, texts) == pytest.approx(0.0)
    assert self_bleu(["the same five word sentence"] * 9) == pytest.approx(100.0)
    varied = ["alpha beta gamma delta", "one two three four", "red green blue black"]
    assert self_bleu(varied) < 5.0
    with pytest.raises(ValueError):
        reconstruction_bleu(texts, texts[:1])


def test_self_bleu_subsample_is_seeded_and_bounded():
    pool = [f"w{i % 5} w{i % 3} w{i % 7} end" for i in range(31)]
    a = self_bleu(pool, max_hypotheses=11, seed=3)
    assert a == self_bleu(pool, max_hypotheses=11, seed=3)
    assert 0.0 < a < 100.0


def test_self_bleu_equals_sacrebleu_sentence_scores_against_all_others():
    import sacrebleu

    rng = random.Random(5)
    words = ["a", "b", "c", "d", "e", "the", "of"]
    # Repeated sentences (an n-gram whose largest count is the hypothesis' own), lengths 1 to 9
    # with ties in closeness, and an empty-ish single word.
    pool = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(37)]
    pool += [pool[3], pool[3], "the the the the of", "b"]
    metric = sacrebleu.metrics.BLEU(tokenize="none", effective_order=True)
    picked = sorted(random.Random(2).sample(range(len(pool)), 23))
    oracle = [metric.sentence_score(pool[i], [s for j, s in enumerate(pool) if j != i]).score
              for i in picked]
    assert self_bleu(pool, max_hypotheses=23, seed=2) == pytest.approx(sum(oracle) / 23, abs=1e-9)


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
    from textvae.data.batching import collate

    batch = collate(ids, bos_id=TOK.bos_id, eos_id=TOK.eos_id, pad_id=TOK.pad_id)
    return batch.ids[:, 1:], batch.lengths


def test_lm_baseline_nll_is_exact():
    model, ids = tiny_model("lm"), sentences(seed=4)
    res = iw_nll(model, ids, TOK, samples=50, batch_size=4)
    from textvae.data.batching import collate

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


# ---------------------------------------------------------------------------- the report


def _tiny_textvae(model_type, tiny_config):
    from textvae.data.grammar import grammar_splits

    cfg = tiny_config(f"model.model_type={model_type}")
    texts = [s.text for s in grammar_splits(200, 0)["train"]]
    tok = WordTokenizer.build(texts)
    from textvae.models.sentence_vae import build_model

    torch.manual_seed(0)
    model = build_model(cfg.model, tok.vocab_size, tok.pad_id)
    return TextVAE(model, tok, cfg), [tok.encode(t) for t in texts[:19]]


def test_report_has_every_section_and_formats(tiny_config, monkeypatch):
    import textvae.evaluate.report

    monkeypatch.setattr(textvae.evaluate.report, "grammar_quality_report",
                        lambda tv, **kw: {"settings": {}, "grammaticality": {"prior": 0.5}})
    tv, ids = _tiny_textvae("vae", tiny_config)
    report = evaluate(tv, ids, samples=7, diversity_samples=9, self_bleu_hypotheses=5)
    like = report["likelihood"]
    assert like["iw_nll_nats_per_sentence"] <= like["neg_elbo_nats_per_sentence"]
    assert like["neg_elbo_nats_per_sentence"] == pytest.approx(
        like["reconstruction_nats_per_sentence"] + like["kl_nats_per_sentence"])
    tokens = sum(len(x) + 1 for x in ids)
    assert like["ppl_per_token_incl_eos"] == pytest.approx(
        math.exp(like["iw_nll_nats_per_sentence"] * len(ids) / tokens))
    assert like["ppl_per_word_excl_eos"] > like["ppl_per_token_incl_eos"]
    assert 0 <= report["latent"]["active_units"] <= 7
    assert 0.0 <= report["reconstruction"]["exact_match"] <= 1.0
    assert report["diversity"]["self_bleu_hypotheses"] == 5
    assert report["grammar_quality"]["grammaticality"]["prior"] == 0.5
    text = format_report(report)
    assert "IW-NLL (K = 7)" in text and "PPL per word (no eos)" in text
    assert "sentences/s" in text


def test_report_for_the_lm_baseline(tiny_config):
    tv, ids = _tiny_textvae("lm", tiny_config)
    report = evaluate(tv, ids, samples=7, diversity_samples=5, quality=True)
    assert set(report["likelihood"]) == {"nll_nats_per_sentence", "ppl_per_token_incl_eos",
                                         "ppl_per_word_excl_eos"}
    assert "latent" not in report and "grammar_quality" not in report
    assert "NLL (exact)" in format_report(report)
