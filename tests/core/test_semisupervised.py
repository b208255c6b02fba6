"""The M2 objective's pure functions against hand computations (3 classes)."""

import math

import pytest
import torch

from textvae.core.semisupervised import (
    class_nll,
    labelled_neg_elbo,
    log_uniform_prior,
    posterior_over_classes,
    semi_supervised_loss,
    unlabelled_neg_elbo,
)


def test_the_labelled_bound_adds_minus_log_of_the_uniform_prior_over_every_factor():
    rec, kl = torch.tensor([10.0, 20.0]), torch.tensor([1.5, 2.5])
    assert log_uniform_prior([3, 5]) == pytest.approx(-math.log(15))
    assert torch.allclose(labelled_neg_elbo(rec, kl, [3]), rec + kl + math.log(3))


def test_the_unlabelled_bound_is_the_expected_bound_minus_the_entropy_of_q():
    per_class = torch.tensor([[4.0, 7.0, 9.0], [1.0, 2.0, 6.0]])  # (B=2, C=3)
    logits = torch.tensor([[0.3, -1.2, 2.0], [1.0, 1.0, -0.5]])
    q = torch.softmax(logits, dim=1)
    entropy = -(q * q.log()).sum(1)
    expected = (q * per_class).sum(1) - entropy
    assert torch.allclose(unlabelled_neg_elbo(per_class, logits), expected, atol=1e-6)


def test_a_certain_classifier_makes_the_unlabelled_bound_that_class_bound():
    per_class = torch.tensor([[4.0, 7.0, 9.0]])
    logits = torch.tensor([[-1e4, 50.0, -1e4]])
    assert unlabelled_neg_elbo(per_class, logits).item() == pytest.approx(7.0, abs=1e-4)


def test_the_loss_weighs_each_set_by_its_share_and_the_classifier_by_alpha_scale():
    labelled, unlabelled = torch.tensor([10.0, 14.0]), torch.tensor([30.0, 34.0, 38.0])
    classification = torch.tensor([0.5, 1.5])
    loss = semi_supervised_loss(labelled, unlabelled, classification, n_labelled=30, n_unlabelled=970,
                                alpha_scale=0.1)
    assert loss.item() == pytest.approx((30 * 12.0 + 970 * 34.0) / 1000 + 0.1 * 1.0)
    supervised = semi_supervised_loss(labelled, None, classification, n_labelled=30, n_unlabelled=970,
                                      alpha_scale=0.3)
    assert supervised.item() == pytest.approx(12.0 + 0.3 * 1.0)


def test_class_nll_and_the_bound_posterior():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert class_nll(logits, torch.tensor([0])).item() == pytest.approx(-torch.log_softmax(logits, 1)[0, 0].item())
    # Bounds 3 nats apart in log-likelihood: probabilities exp(-3) apart.
    probs = posterior_over_classes(torch.tensor([[10.0, 13.0, 10.0]]))
    assert probs[0, 1].item() / probs[0, 0].item() == pytest.approx(math.exp(-3), rel=1e-5)
    assert probs.sum().item() == pytest.approx(1.0)
