"""M2 (textvae.image.models.m2) and its objective (textvae.image.objectives.m2_objective), pinned against a hand
computation on a tiny case: 3 classes, inputs of 9 pixels, latent 7, hidden 11."""

import math

import pytest
import torch
import torch.nn.functional as F

from textvae.image.models.m2 import M2, M2Config
from textvae.image.models.vae import ImageModelConfig
from textvae.image.objectives.m2_objective import evaluate_m2, m2_loss

K, SIDE, Z = 3, 3, 7
D = SIDE * SIDE


def _model(**kw) -> M2:
    torch.manual_seed(0)
    cfg = M2Config(image_size=SIDE, hidden_dims=[11], classifier_dims=[13], latent_dim=Z, **kw)
    return M2(cfg, K)


def _hand_bound(model, x, y, eps):
    """-L(x, y) of one example, written out: x (D,), y an int, eps (Z,) the noise."""
    onehot = torch.zeros(K)
    onehot[y] = 1.0
    mu, logvar = model.encoder(torch.cat([x, onehot])).split(Z)
    z = mu + torch.exp(logvar / 2) * eps
    p = torch.sigmoid(model.decoder(torch.cat([z, onehot])))
    rec = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum()
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
    return rec + kl + math.log(K)  # -log p(y) = log K


def test_the_m2_loss_equals_a_hand_computation():
    model = _model()
    g = torch.Generator().manual_seed(0)
    x_l = torch.bernoulli(torch.full((2, D), 0.4), generator=g)
    y_l = torch.tensor([2, 0])
    x_u = torch.bernoulli(torch.full((5, D), 0.6), generator=g)
    n_l, n_u, alpha = 17, 29, 0.3
    terms = m2_loss(model, x_l, y_l, x_u, n_labelled=n_l, n_unlabelled=n_u, alpha_scale=alpha,
                    generator=torch.Generator().manual_seed(5))
    # The same noise, in the order the loss draws it: the labelled batch, then every class of
    # the unlabelled batch, class-major.
    noise = torch.Generator().manual_seed(5)
    eps_l = torch.randn(2, Z, generator=noise)
    eps_u = torch.randn(K * 5, Z, generator=noise).view(K, 5, Z)
    with torch.no_grad():
        labelled = torch.stack([_hand_bound(model, x_l[i], int(y_l[i]), eps_l[i]) for i in range(2)])
        unlabelled = []
        for i in range(5):
            q = torch.softmax(model.classifier(x_u[i]), dim=0)
            bounds = torch.stack([_hand_bound(model, x_u[i], c, eps_u[c, i]) for c in range(K)])
            unlabelled.append((q * bounds).sum() + (q * q.log()).sum())  # E_q[-L] - H(q)
        unlabelled = torch.stack(unlabelled)
        ce = torch.stack([-torch.log_softmax(model.classifier(x_l[i]), 0)[y_l[i]] for i in range(2)])
        expected = (n_l * labelled.mean() + n_u * unlabelled.mean()) / (n_l + n_u) + alpha * ce.mean()
    torch.testing.assert_close(terms.loss, expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms.labelled, labelled.mean(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms.unlabelled, unlabelled.mean(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms.classification, ce.mean())


def test_the_classification_term_weighs_alpha_scale_per_labelled_example():
    model = _model()
    x_l, y_l = torch.rand(4, D).round(), torch.tensor([0, 1, 2, 1])
    x_u = torch.rand(3, D).round()

    def loss(alpha):
        return m2_loss(model, x_l, y_l, x_u, n_labelled=10, n_unlabelled=90, alpha_scale=alpha,
                       generator=torch.Generator().manual_seed(1))

    a, b = loss(0.0), loss(0.1)
    ce = F.cross_entropy(model.classify(x_l), y_l)
    torch.testing.assert_close(b.loss - a.loss, 0.1 * ce)
    # Kingma et al.'s default is alpha = 0.1 N: 0.1 per example.
    from textvae.core.semisupervised import DEFAULT_ALPHA_SCALE

    assert DEFAULT_ALPHA_SCALE == 0.1


def test_the_classifier_alone_trains_on_the_class_nll_only():
    model = _model(model_type="classifier")
    assert model.encoder is None and model.decoder is None
    x, y = torch.rand(5, D), torch.tensor([0, 1, 2, 0, 1])
    terms = m2_loss(model, x, y, None, n_labelled=5, n_unlabelled=0)
    torch.testing.assert_close(terms.loss, F.cross_entropy(model.classify(x), y))
    with pytest.raises(ValueError, match="classifier alone"):
        model.encode(x, model.one_hot(y))


def test_shapes_and_the_per_class_bounds_match_one_class_at_a_time():
    model = _model()
    x = torch.rand(5, D).round()
    rec, kl = model.bound_terms_every_class(x, torch.Generator().manual_seed(3))
    assert rec.shape == kl.shape == (5, K)
    # With the posterior's noise switched off (sigma -> 0), class c's column is bound_terms(x, c).
    with torch.no_grad():
        model.encoder[-1].bias[Z:] = -60.0
    rec, kl = model.bound_terms_every_class(x)
    for c in range(K):
        r, k = model.bound_terms(x, model.one_hot(torch.full((5,), c)))
        torch.testing.assert_close(rec[:, c], r)
        torch.testing.assert_close(kl[:, c], k)
    assert model.decode_images(torch.zeros(2, Z), model.one_hot(torch.tensor([0, 2]))).shape == (
        2, 1, SIDE, SIDE)


def test_m1_m2_reads_m1_means_and_decodes_through_m1():
    m1_cfg = ImageModelConfig(image_size=SIDE, hidden_dims=[5], latent_dim=4)
    model = _model(m1=m1_cfg)
    assert model.input_dim == 4 and not any(p.requires_grad for p in model.m1.parameters())
    images = torch.rand(6, 1, SIDE, SIDE)
    mean = model.inputs(images)
    torch.testing.assert_close(mean, model.m1.encode(images)[0])
    drawn = model.inputs(images, torch.Generator().manual_seed(0), sample=True)
    assert drawn.shape == (6, 4) and not torch.equal(drawn, mean)
    out = model.decode(torch.zeros(6, Z), model.one_hot(torch.zeros(6, dtype=torch.long)))
    assert out.shape == (6, 8)  # a Gaussian's mean and log-variance over z1
    model.train()
    assert not model.m1.training  # M1 stays frozen in eval mode
    pictures = model.decode_images(torch.zeros(2, Z), model.one_hot(torch.tensor([1, 2])))
    assert pictures.shape == (2, 1, SIDE, SIDE) and 0 <= pictures.min() <= pictures.max() <= 1


def test_evaluate_m2_counts_errors_and_reports_bounds():
    model = _model()
    x = torch.rand(11, D).round()
    predicted = model.classify(x).argmax(1)
    labels = predicted.clone()
    labels[:4] = (labels[:4] + 1) % K  # 4 of 11 wrong
    result = evaluate_m2(model, x, labels, batch_size=5)
    assert result["error"] == pytest.approx(4 / 11) and result["accuracy"] == pytest.approx(7 / 11)
    assert result["neg_elbo"] > 0 and result["neg_elbo_labelled"] > result["kl"] > 0
    alone = evaluate_m2(_model(model_type="classifier"), x, labels)
    assert set(alone) == {"accuracy", "error", "class_nll"}


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="latent_dim must be positive"):
        M2Config(latent_dim=0)
    with pytest.raises(ValueError, match="need at least one layer"):
        M2Config(classifier_dims=[])
    with pytest.raises(ValueError, match="M1 .* must be an MLP VAE"):
        M2Config(m1=ImageModelConfig(model_type="ae"))


def test_m1_active_means_read_the_listed_units_in_training_too():
    m1_cfg = ImageModelConfig(image_size=SIDE, hidden_dims=[5], latent_dim=4)
    model = _model(m1=m1_cfg, m1_inputs="active_means", m1_active_units=[3, 1])
    images = torch.rand(6, 1, SIDE, SIDE)
    mu = model.m1.encode(images)[0]
    drawn = model.inputs(images, torch.Generator().manual_seed(0), sample=True)
    torch.testing.assert_close(drawn, mu[:, [3, 1]])
    assert model.input_dim == 2 and "active" not in model.state_dict()
    out = model.decode_images(torch.zeros(2, Z), model.one_hot(torch.tensor([1, 2])))
    assert out.shape == (2, 1, SIDE, SIDE)
    with pytest.raises(ValueError, match="needs model.m1_active_units"):
        _model(m1=m1_cfg, m1_inputs="active_means")
