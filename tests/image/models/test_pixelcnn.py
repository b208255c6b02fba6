import math

import pytest
import torch
import torch.nn.functional as F

from textvae.image.models.pixelcnn import (
    GatedPixelCNN,
    bits_per_code,
    code_log_likelihood,
    draw,
    sample_codes,
)

K, H, W, CLASSES, COND = 11, 5, 7, 3, 4  # odd, distinct sizes: a transposed map cannot pass


def _model(**kwargs) -> GatedPixelCNN:
    torch.manual_seed(0)
    options = dict(channels=6, layers=3, kernel_size=3, embedding_dim=5, num_classes=CLASSES,
                   condition_channels=COND)
    return GatedPixelCNN(K, **{**options, **kwargs})


def _inputs(model: GatedPixelCNN, batch: int = 2):
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(K, (batch, H, W), generator=g)
    classes = torch.randint(CLASSES, (batch,), generator=g) if model.num_classes else None
    condition = (torch.randn(batch, COND, H, W, generator=g) if model.condition_channels
                 else None)
    return codes, classes, condition


def _input_gradient(model, position):
    """|d logits[0, :, i, j] / d embedding| summed over channels: (H * W,) in raster order."""
    codes, classes, condition = _inputs(model)
    embedded = model.embed(codes).detach().requires_grad_(True)  # (B, E, H, W)
    logits = model.logits_of_embedded(embedded, classes, condition)  # (B, K, H, W)
    i, j = position
    logits[0, :, i, j].pow(2).sum().backward()
    assert embedded.grad[1].abs().sum() == 0  # no mixing across the batch
    return embedded.grad[0].abs().sum(0).flatten()


@pytest.mark.parametrize("options", [
    {},  # class- and map-conditioned, k = 3
    {"kernel_size": 5, "layers": 4, "num_classes": 0, "condition_channels": 0},
    {"kernel_size": 1, "layers": 2},  # the narrowest stacks still see the row above
])
@pytest.mark.parametrize("position", [(0, 0), (0, 4), (2, 0), (2, 3), (4, 6), (3, 6)])
def test_an_output_never_depends_on_its_own_or_later_positions(options, position):
    model = _model(**options)
    grad = _input_gradient(model, position)
    here = position[0] * W + position[1]
    assert torch.all(grad[here:] == 0), "an output reads its own or a later position"
    if here > 0:
        assert grad[:here].max() > 0, "an output reads no earlier position"


def test_no_blind_spot_above_right():
    """The original masked PixelCNN never sees the positions above and to the right of a pixel
    beyond its kernel's reach through the horizontal chain; the two stacks do."""
    model = _model(kernel_size=3, layers=3)
    grad = _input_gradient(model, (3, 2)).view(H, W)
    assert grad[2, 3] > 0 and grad[2, 2] > 0 and grad[2, 1] > 0 and grad[3, 1] > 0
    assert grad[1, 4] > 0  # two rows up, two columns right: the vertical stack's reach


def test_conditioning_reaches_every_position():
    model = _model()
    codes, classes, condition = _inputs(model)
    base = model(codes, classes, condition)
    other_class = model(codes, (classes + 1) % CLASSES, condition)
    assert (base - other_class)[:, :, 0, 0].abs().max() > 0  # even the first position
    moved = condition.clone()
    moved[:, :, 4, 6] += 1.0
    shifted = model(codes, classes, moved)
    assert (base - shifted)[:, :, 4, 6].abs().max() > 0  # the map is read where it lies
    with pytest.raises(ValueError, match="class-conditional"):
        model(codes, None, condition)


def test_log_likelihood_of_a_hand_computed_case():
    # One map of 1 x 2 positions, K = 3. Position 0: logits (0, ln 2, 0) -> p = (1/4, 1/2, 1/4);
    # position 1: logits (ln 3, 0, 0) -> p = (3/5, 1/5, 1/5). Codes (1, 2).
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(2.0), 0.0], [0.0, 0.0]])
    logits = logits.view(1, 3, 1, 2)
    codes = torch.tensor([[[1, 2]]])
    expected = math.log(1 / 2) + math.log(1 / 5)
    nats = code_log_likelihood(logits, codes)
    assert nats.shape == (1,)
    assert nats.item() == pytest.approx(expected, abs=1e-6)
    assert bits_per_code(nats, 2).item() == pytest.approx(expected / (2 * math.log(2)), abs=1e-6)


def test_a_model_with_set_logits_scores_codes_by_hand():
    """The head's last convolution zeroed and its bias set: every position's logits are the
    bias, so log p(codes) is a sum of log-softmax entries written out by hand."""
    model = _model(num_classes=0, condition_channels=0)
    bias = torch.linspace(-1.0, 2.0, K)
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.copy_(bias)
    codes = torch.randint(K, (3, H, W), generator=torch.Generator().manual_seed(2))
    log_norm = math.log(sum(math.exp(b) for b in bias.tolist()))
    by_hand = [sum(bias[c].item() - log_norm for c in m.flatten().tolist()) for m in codes]
    assert code_log_likelihood(model(codes), codes).tolist() == pytest.approx(by_hand, abs=1e-4)


def _sample(model, seed, temperature=1.0, n=4):
    _, classes, condition = _inputs(model, n)
    g = torch.Generator().manual_seed(seed)
    return sample_codes(model.eval(), n, H, W, classes=classes, condition=condition,
                        temperature=temperature, generator=g)


def test_sampling_is_deterministic_under_a_seed():
    model = _model()
    first = _sample(model, 7)
    assert first.shape == (4, H, W) and first.dtype == torch.long
    assert 0 <= first.min() and first.max() < K
    assert torch.equal(first, _sample(model, 7))
    assert not torch.equal(first, _sample(model, 8))


def test_zero_temperature_is_the_greedy_argmax_and_low_temperatures_approach_it():
    model = _model()
    greedy = _sample(model, 7, temperature=0.0)
    # Greedy: every code is the argmax of the logits given the codes before it.
    _, classes, condition = _inputs(model, 4)
    with torch.no_grad():
        assert torch.equal(model(greedy, classes, condition).argmax(dim=1), greedy)
    assert torch.equal(_sample(model, 7, temperature=1e-4), greedy)
    assert torch.equal(_sample(model, 8, temperature=1e-4), greedy)


def test_draws_follow_the_softmax_at_the_temperature():
    logits = torch.log(torch.tensor([[1.0, 3.0]])).expand(40000, 2)  # p = (1/4, 3/4)
    g = torch.Generator().manual_seed(3)
    assert draw(logits, 1.0, g).float().mean().item() == pytest.approx(0.75, abs=0.01)
    hot = 3 ** 0.5 / (1 + 3 ** 0.5)  # T = 2: p proportional to (1, 3) ** (1/2)
    assert draw(logits, 2.0, g).float().mean().item() == pytest.approx(hot, abs=0.01)
    with pytest.raises(ValueError, match="temperature"):
        draw(logits, -1.0, g)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="odd kernel"):
        GatedPixelCNN(K, kernel_size=4)
    with pytest.raises(ValueError, match="layers >= 1"):
        GatedPixelCNN(K, layers=0)


def test_training_lowers_the_nll():
    model = _model(num_classes=0, condition_channels=0)
    codes = torch.randint(3, (8, H, W), generator=torch.Generator().manual_seed(4))  # 3 of K used
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = -code_log_likelihood(model(codes), codes).mean().item()
    for _ in range(30):
        loss = F.cross_entropy(model(codes), codes)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = -code_log_likelihood(model(codes), codes).mean().item()
    assert after < before - H * W * 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_on_cuda_the_likelihood_matches_the_cpu_and_sampling_is_seeded():
    cpu_model = _model().eval()
    gpu_model = _model().cuda().eval()
    codes, classes, condition = _inputs(cpu_model, batch=3)
    on_cpu = code_log_likelihood(cpu_model(codes, classes, condition), codes)
    on_gpu = code_log_likelihood(gpu_model(codes.cuda(), classes.cuda(), condition.cuda()),
                                 codes.cuda())
    assert on_gpu.cpu().tolist() == pytest.approx(on_cpu.tolist(), abs=1e-3)

    def sample(seed):
        g = torch.Generator(device="cuda").manual_seed(seed)
        return sample_codes(gpu_model, 3, H, W, classes=classes.cuda(),
                            condition=condition.cuda(), generator=g)

    first = sample(5)
    assert first.device.type == "cuda" and first.shape == (3, H, W)
    assert torch.equal(first, sample(5))
