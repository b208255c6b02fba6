import copy

import pytest
import torch

from textvae.image.models.vq import VectorQuantizer


def test_vector_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    vq = VectorQuantizer(codebook_size=5, code_dim=3, commitment_cost=0.25, ema=False, decay=0.99)
    with torch.no_grad():
        vq.codebook.copy_(torch.arange(15.0).view(5, 3))
    # Three positions on a 1x3 grid, each 0.1 away from codes 4, 0 and 2: (B=1, D=3, 1, 3).
    vectors = torch.arange(15.0).view(5, 3)[[4, 0, 2]] + 0.1  # (3 positions, D)
    z = vectors.t().reshape(1, 3, 1, 3).clone().requires_grad_()
    q, codes, loss = vq(z)
    assert codes.flatten().tolist() == [4, 0, 2]
    assert torch.allclose(q.detach(), (vectors - 0.1).t().reshape(1, 3, 1, 3))
    (q.sum() + 0 * loss.sum()).backward()
    assert torch.equal(z.grad, torch.ones_like(z))  # straight-through: d q / d z = identity
    # codebook loss + 0.25 commitment: both 0.1^2 per element, 9 elements.
    assert torch.allclose(loss, torch.tensor([1.25 * 9 * 0.01]), atol=1e-5)


def test_ema_codebook_moves_toward_assigned_encoder_outputs():
    torch.manual_seed(3)
    vq = VectorQuantizer(codebook_size=7, code_dim=3, commitment_cost=0.25, ema=True, decay=0.5)
    target = torch.full((1, 3, 5, 5), 2.0)
    for _ in range(20):
        vq(target)
    used = vq(target)[1].unique()
    assert torch.allclose(vq.codebook[used], torch.full((1, 3), 2.0), atol=1e-3)
    assert not vq.codebook.requires_grad


@pytest.mark.parametrize("ema", [False, True])
def test_dead_codes_restart_at_encoder_outputs(ema):
    torch.manual_seed(4)
    vq = VectorQuantizer(codebook_size=7, code_dim=3, commitment_cost=0.25, ema=ema, decay=0.9,
                         dead_threshold=1.0)
    z = torch.randn(5, 3, 3, 1) * 10  # far from the tiny initial codebook
    _, codes, _ = vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)  # (15, D)
    unused = [k for k in range(7) if k not in codes.unique().tolist()]
    assert unused  # a few codes take all 15 vectors at first
    # Every unused code was restarted at one of the 15 encoder outputs.
    dist = torch.cdist(vq.codebook.detach()[unused], flat).min(1).values
    assert torch.allclose(dist, torch.zeros_like(dist), atol=1e-5)
    vq.eval()
    before = vq.codebook.detach().clone()
    vq(z)
    assert torch.equal(vq.codebook.detach(), before)  # no updates in eval mode


def test_without_restarts_an_untouched_code_stays_put():
    torch.manual_seed(4)
    vq = VectorQuantizer(codebook_size=7, code_dim=3, commitment_cost=0.25, ema=True, decay=0.9)
    before = vq.codebook.clone()
    _, codes, _ = vq(torch.randn(5, 3, 3, 1) * 10)
    unused = [k for k in range(7) if k not in codes.unique().tolist()]
    assert unused and torch.allclose(vq.codebook[unused], before[unused], atol=1e-6)


@pytest.mark.parametrize("ema", [False, True])
def test_a_code_used_by_the_batch_is_not_restarted_even_with_low_usage(ema):
    # Codebook K = 11 of size D = 7; a batch of 5 images on a 1x3 grid: 15 vectors, 7 of them
    # next to code 2 and 8 next to code 8. Code 2's moving-average usage is low (0.05), so after
    # this step it is 0.9 * 0.05 + 0.1 * 7 = 0.745, below the threshold 1: it counts as dead by
    # usage, yet this very batch chose it and must keep it. Code 4 is low and unused: the one
    # that must be restarted.
    torch.manual_seed(5)
    k, d = 11, 7
    vq = VectorQuantizer(codebook_size=k, code_dim=d, commitment_cost=0.25, ema=ema, decay=0.9,
                         dead_threshold=1.0)
    codebook = torch.randn(k, d) * 3  # (K, D), codes far apart compared with the noise below
    with torch.no_grad():
        vq.codebook.copy_(codebook)
        if ema:
            vq.ema_sum.copy_(codebook)
        vq.usage.fill_(5.0)
        vq.usage[[2, 4]] = 0.05
    chosen = torch.tensor([2] * 7 + [8] * 8)  # (15,) the code each vector sits next to
    flat = codebook[chosen] + 0.01 * torch.randn(15, d)  # (15, D)
    z_e = flat.view(5, 1, 3, d).permute(0, 3, 1, 2).contiguous()  # (B=5, D, 1, 3)
    # The same quantizer without restarts: what every code used by the batch must end up as
    # (for EMA, the moving-average update alone).
    twin = copy.deepcopy(vq)
    twin.dead_threshold = 0.0

    _, codes, _ = vq(z_e)
    twin(z_e)
    assert torch.equal(codes.flatten(), chosen)
    for used in (2, 8):
        assert torch.equal(vq.codebook[used], twin.codebook[used]), f"code {used} was replaced"
    # Code 4 (low usage, unused) was restarted at one of the batch's encoder outputs.
    assert torch.cdist(vq.codebook[4:5].detach(), flat).min() < 1e-5
