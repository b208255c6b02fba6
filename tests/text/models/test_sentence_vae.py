"""Tests for the sentence VAE and its LM baseline.

Sizes are odd and distinct (vocab 37, latent 7, batch 5, embed 11, encoder hidden 13, decoder
hidden 17) so that a transposed or mis-reshaped dimension cannot pass by accident.
"""

import io
import math

import pytest
import torch
import torch.nn.functional as F
from tiny import BF16_RNNS

from textvae.core.gaussian import kl_standard_normal
from textvae.text.models.sentence_vae import (
    ModelConfig,
    SentenceVAE,
    SentenceVAEOutput,
    build_model,
)

V, Z, B, E, ENC_H, DEC_H = 37, 7, 5, 11, 13, 17
PAD, BOS, EOS = 0, 1, 2
LENGTHS = torch.tensor([6, 3, 1, 8, 4])  # words + eos; 1 = the empty sentence

MATRIX = pytest.mark.parametrize(
    ("rnn_type", "num_layers", "bidirectional"),
    [(r, n, bi) for r in ("lstm", "gru") for n in (1, 2) for bi in (False, True)],
)


def make_model_kwargs() -> dict:
    """Constructor keyword arguments of the small test model."""
    return dict(model_type="vae", rnn_type="lstm", embed_dim=E, encoder_hidden_dim=ENC_H,
                decoder_hidden_dim=DEC_H, latent_dim=Z, encoder_layers=1, decoder_layers=1,
                bidirectional=False, z_to_inputs=False, tie_embeddings=False, dropout=0.0)


def make_model(**overrides) -> SentenceVAE:
    torch.manual_seed(0)
    return SentenceVAE(V, PAD, **{**make_model_kwargs(), **overrides})


def make_batch(lengths: torch.Tensor = LENGTHS, extra_pad: int = 0) -> torch.Tensor:
    """Framed ids (B, max(lengths) + 1 + extra_pad): [bos, words, eos, pad...]."""
    g = torch.Generator().manual_seed(3)
    width = int(lengths.max()) + 1 + extra_pad
    ids = torch.full((len(lengths), width), PAD)
    for b, n in enumerate(lengths.tolist()):
        ids[b, 0] = BOS
        ids[b, 1:n] = torch.randint(3, V, (n - 1,), generator=g)
        ids[b, n] = EOS
    return ids


def loss_fn(out: SentenceVAEOutput) -> torch.Tensor:
    loss = F.cross_entropy(out.logits, out.targets, reduction="sum")
    if out.mu is not None:
        loss = loss + kl_standard_normal(out.mu, out.logvar).sum()
    return loss


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- the matrix


@MATRIX
def test_forward_shapes(rnn_type, num_layers, bidirectional):
    model = make_model(rnn_type=rnn_type, encoder_layers=num_layers,
                       decoder_layers=num_layers, bidirectional=bidirectional)
    ids = make_batch()
    out = model(ids, LENGTHS, generator=torch.Generator().manual_seed(0))
    n = int(LENGTHS.sum())
    assert out.logits.shape == (n, V)
    assert out.targets.shape == (n,)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (B, Z)
    assert torch.equal(out.lengths, LENGTHS)
    # Targets are grouped by sentence, in order: words + eos of sentence 0, then sentence 1...
    expected = torch.cat([ids[b, 1 : LENGTHS[b] + 1] for b in range(B)])
    assert torch.equal(out.targets, expected)
    assert not (out.targets == PAD).any()


@MATRIX
def test_train_step_changes_weights_and_eval_step_does_not(rnn_type, num_layers, bidirectional):
    model = make_model(rnn_type=rnn_type, encoder_layers=num_layers,
                       decoder_layers=num_layers, bidirectional=bidirectional, dropout=0.1)
    ids = make_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    before = _snapshot(model)
    model.train()
    loss = loss_fn(model(ids, LENGTHS, generator=torch.Generator().manual_seed(0)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    after = _snapshot(model)
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == []

    model.eval()
    with torch.no_grad():
        first = model(ids, LENGTHS, generator=torch.Generator().manual_seed(1))
        second = model(ids, LENGTHS, generator=torch.Generator().manual_seed(1))
    for k, v in _snapshot(model).items():
        assert torch.equal(v, after[k]), k
    torch.testing.assert_close(first.logits, second.logits, rtol=0, atol=0)  # no dropout in eval


@MATRIX
def test_state_dict_round_trip(rnn_type, num_layers, bidirectional):
    kwargs = dict(rnn_type=rnn_type, encoder_layers=num_layers,
                  decoder_layers=num_layers, bidirectional=bidirectional)
    model = make_model(**kwargs).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)  # a differently initialized twin
    twin = SentenceVAE(V, PAD, **{**make_model_kwargs(), **kwargs}).eval()
    twin.load_state_dict(torch.load(buffer, weights_only=True))
    ids = make_batch()
    with torch.no_grad():
        a = model(ids, LENGTHS, generator=torch.Generator().manual_seed(5))
        b = twin(ids, LENGTHS, generator=torch.Generator().manual_seed(5))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


# --------------------------------------------------------------------------- LM baseline


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_lm_baseline(rnn_type):
    model = make_model(model_type="lm", rnn_type=rnn_type, decoder_layers=2, z_to_inputs=True)
    out = model(make_batch(), LENGTHS)
    assert out.mu is None and out.logvar is None and out.z is None
    assert out.logits.shape == (int(LENGTHS.sum()), V)
    names = [name for name, _ in model.named_parameters()]
    assert not any(n.startswith(("encoder", "to_mu", "to_logvar", "latent_to_hidden"))
                   for n in names)
    assert model.decoder.input_size == E  # z_to_inputs has nothing to concatenate
    loss_fn(out).backward()
    with pytest.raises(ValueError, match="no encoder"):
        model.encode(make_batch()[:, 1:], LENGTHS)
    with pytest.raises(ValueError, match="no z"):
        model.decode(make_batch()[:, :-1], LENGTHS, torch.zeros(B, Z))


def test_vae_decoder_requires_z():
    model = make_model()
    with pytest.raises(ValueError, match="needs z"):
        model.initial_state(None, B)


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_invariance(bidirectional):
    model = make_model(bidirectional=bidirectional, encoder_layers=2, z_to_inputs=True).eval()
    with torch.no_grad():
        tight = model(make_batch(), LENGTHS, generator=torch.Generator().manual_seed(0))
        loose = model(make_batch(extra_pad=4), LENGTHS, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loose.mu, tight.mu)
    torch.testing.assert_close(loose.logvar, tight.logvar)
    torch.testing.assert_close(loose.logits, tight.logits)
    assert torch.equal(loose.targets, tight.targets)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_rows_are_grouped_by_sentence_in_order(rnn_type):
    """Each sentence's block of logits equals what the model gives that sentence alone (so
    no state, e.g. z reshaped to (L, B, H), leaks across the batch)."""
    model = make_model(rnn_type=rnn_type, bidirectional=True, encoder_layers=2,
                       decoder_layers=2, z_to_inputs=True).eval()
    ids = make_batch()
    with torch.no_grad():
        mu, _ = model.encode(ids[:, 1:], LENGTHS)
        logits = model.decode(ids[:, :-1], LENGTHS, mu)
        blocks = logits.split(LENGTHS.tolist())
        for b in range(B):
            n = int(LENGTHS[b])
            one_ids, one_len = ids[b : b + 1, : n + 1], LENGTHS[b : b + 1]
            one_mu, _ = model.encode(one_ids[:, 1:], one_len)
            torch.testing.assert_close(one_mu, mu[b : b + 1])
            torch.testing.assert_close(model.decode(one_ids[:, :-1], one_len, one_mu), blocks[b])
    # Per-sentence sums as documented on SentenceVAEOutput.
    x = torch.arange(int(LENGTHS.sum()), dtype=torch.float)
    expected = torch.stack([block.sum() for block in x.split(LENGTHS.tolist())])
    torch.testing.assert_close(torch.segment_reduce(x, "sum", lengths=LENGTHS), expected)
    sentence = torch.repeat_interleave(torch.arange(B), LENGTHS)
    torch.testing.assert_close(x.new_zeros(B).index_add_(0, sentence, x), expected)


def test_decoder_inputs_override():
    model = make_model().eval()
    ids = make_batch()
    dropped = ids[:, :-1].clone()
    dropped[:, 1:][dropped[:, 1:] > 2] = 3  # every word replaced by one "unk" id
    with torch.no_grad():
        plain = model(ids, LENGTHS, generator=torch.Generator().manual_seed(0))
        masked = model(ids, LENGTHS, decoder_inputs=dropped,
                       generator=torch.Generator().manual_seed(0))
    assert torch.equal(plain.targets, masked.targets)
    torch.testing.assert_close(plain.mu, masked.mu)  # the encoder still sees the clean words
    assert not torch.allclose(plain.logits, masked.logits)


# --------------------------------------------------------------------------- options


def test_tie_embeddings():
    model = make_model(embed_dim=DEC_H, tie_embeddings=True)
    assert model.output.weight is model.embedding.weight
    untied = make_model(embed_dim=DEC_H)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in untied.parameters()) - V * DEC_H
    loss_fn(model(make_batch(), LENGTHS)).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert model.output.weight is model.embedding.weight
    with pytest.raises(ValueError, match="tie_embeddings"):
        make_model(tie_embeddings=True)  # E=11 != decoder H=17


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("z_to_inputs", [False, True])
def test_z_changes_logits_at_every_position(rnn_type, z_to_inputs):
    model = make_model(rnn_type=rnn_type, z_to_inputs=z_to_inputs, decoder_layers=2).eval()
    inputs = make_batch()[:, :-1]
    z1, z2 = torch.randn(2, B, Z, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        diff = (model.decode(inputs, LENGTHS, z1) - model.decode(inputs, LENGTHS, z2)).abs()
        assert (diff.amax(dim=1) > 1e-6).all()
        if z_to_inputs:
            # Cut the initial-state path: z must still reach every position through the inputs.
            model.latent_to_hidden.weight.zero_()
            diff = (model.decode(inputs, LENGTHS, z1) - model.decode(inputs, LENGTHS, z2)).abs()
            assert (diff.amax(dim=1) > 1e-6).all()


def test_reparameterize_reproducible():
    model = make_model()
    mu, logvar = torch.randn(2, B, Z)
    a = model.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    b = model.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    c = model.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    ids = make_batch()
    out_a = model(ids, LENGTHS, generator=torch.Generator().manual_seed(7))
    out_b = model(ids, LENGTHS, generator=torch.Generator().manual_seed(7))
    assert torch.equal(out_a.z, out_b.z) and torch.equal(out_a.logits, out_b.logits)


# --------------------------------------------------------------------------- step-wise decoding


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("z_to_inputs", [False, True])
@pytest.mark.parametrize("model_type", ["vae", "lm"])
def test_decode_step_matches_full_decode(rnn_type, z_to_inputs, model_type):
    model = make_model(model_type=model_type, rnn_type=rnn_type, z_to_inputs=z_to_inputs,
                       decoder_layers=2, dropout=0.3).eval()
    inputs = make_batch()[:, :-1]  # (B, T)
    z = torch.randn(B, Z, generator=torch.Generator().manual_seed(6)) if model_type == "vae" else None
    with torch.no_grad():
        full = model.decode(inputs, LENGTHS, z)  # (N, V)
        state = model.initial_state(z, B)
        steps = []
        for t in range(inputs.shape[1]):
            logits, state = model.decode_step(inputs[:, t], state, z)  # (B, V)
            steps.append(logits)
    stepped = torch.stack(steps, dim=1)  # (B, T, V)
    mask = torch.arange(inputs.shape[1]) < LENGTHS.unsqueeze(1)  # (B, T)
    torch.testing.assert_close(stepped[mask], full, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- builder


def test_build_model_from_config():
    cfg = ModelConfig(rnn_type="gru", embed_dim=E, encoder_hidden_dim=ENC_H,
                      decoder_hidden_dim=DEC_H, latent_dim=Z, encoder_layers=2,
                      decoder_layers=3, bidirectional=True, z_to_inputs=True, dropout=0.1)
    model = build_model(cfg, V, PAD)
    assert isinstance(model.encoder, torch.nn.GRU) and model.encoder.num_layers == 2
    assert model.encoder.bidirectional and model.encoder.hidden_size == ENC_H
    assert model.decoder.num_layers == 3 and not model.decoder.bidirectional
    assert model.decoder.input_size == E + Z
    assert model.to_mu.in_features == 2 * 2 * ENC_H and model.to_mu.out_features == Z
    assert model.latent_to_hidden.out_features == 3 * DEC_H
    assert model.output.out_features == V
    assert model(make_batch(), LENGTHS).logits.shape == (int(LENGTHS.sum()), V)


def test_constructor_rejects_bad_choices():
    with pytest.raises(ValueError, match="model_type"):
        make_model(model_type="vqvae")
    with pytest.raises(ValueError, match="rnn_type"):
        make_model(rnn_type="transformer")
    with pytest.raises(ValueError, match="pad_id"):
        SentenceVAE(V, V, **make_model_kwargs())


# --------------------------------------------------------------------------- device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_forward_backward_on_cuda(rnn_type):
    device = torch.device("cuda")
    model = make_model(rnn_type=rnn_type, encoder_layers=2, decoder_layers=2,
                       bidirectional=True, z_to_inputs=True).to(device)
    ids, lengths = make_batch().to(device), LENGTHS.to(device)
    out = model(ids, lengths, generator=torch.Generator(device=device).manual_seed(0))
    assert out.logits.device.type == "cuda" and out.z.device.type == "cuda"
    loss_fn(out).backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda"
               for p in model.parameters())
    state = model.initial_state(out.z, B)
    logits, _ = model.decode_step(ids[:, 0], state, out.z)
    assert logits.shape == (B, V) and logits.device.type == "cuda"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_bn_and_du_vae_heads_train_and_evaluate_on_cuda():
    device = torch.device("cuda")
    model = make_model(posterior_bn_gamma=0.5, posterior_var_dropout=0.3,
                       posterior_var_floor=1.0).to(device)
    ids, lengths = make_batch().to(device), LENGTHS.to(device)
    out = model(ids, lengths)
    floor = math.log(1 / (2 * math.pi * math.e))
    assert out.logvar.device.type == "cuda" and (out.logvar >= floor - 1e-5).all()
    loss_fn(out).backward()
    assert model.mu_norm.beta.grad is not None
    assert model.mu_norm.running_mean.device.type == "cuda"
    model.eval()
    first, second = model.encode(ids[:, 1:], lengths), model.encode(ids[:, 1:], lengths)
    torch.testing.assert_close(first[1], second[1])  # no variance dropout in evaluation


@MATRIX
def test_unpadded_batches_skip_packing_with_the_same_posterior(rnn_type, num_layers, bidirectional):
    model = make_model(rnn_type=rnn_type, encoder_layers=num_layers, bidirectional=bidirectional)
    model.eval()
    tokens = torch.randint(3, V, (B, 6))  # every row 6 long: the plain (unpacked) path
    lengths = torch.full((B,), 6)
    mu, logvar = model.encode(tokens, lengths)
    padded = torch.cat([tokens, torch.full((B, 3), PAD)], dim=1)  # now packing is needed
    mu_packed, logvar_packed = model.encode(padded, lengths)
    torch.testing.assert_close(mu, mu_packed)
    torch.testing.assert_close(logvar, logvar_packed)


def test_given_noise_sets_z_exactly():
    model = make_model()
    ids = torch.randint(3, V, (B, 9))
    eps = torch.randn(B, Z)
    out = model(ids, torch.full((B,), 8), eps=eps)
    torch.testing.assert_close(out.z, out.mu + torch.exp(0.5 * out.logvar) * eps)
    with pytest.raises(ValueError, match="eps has shape"):
        model(ids, torch.full((B,), 8), eps=torch.randn(B, Z + 2))


@BF16_RNNS
def test_posterior_stays_float32_under_bf16_autocast():
    model = make_model()
    ids = torch.randint(3, V, (B, 9))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, torch.full((B,), 8))
    assert out.mu.dtype == out.logvar.dtype == out.z.dtype == torch.float32
    assert out.logits.dtype == torch.bfloat16  # the big matmul did run in bf16


def test_bn_vae_trains_resumes_and_evaluates_with_its_running_statistics(tiny_config):
    from textvae.core.checkpoint import load_weights
    from textvae.text.models.sentence_vae import build_model
    from textvae.text.run.checkpoint import load_checkpoint
    from textvae.text.training.train import train

    cfg = tiny_config("model.posterior_bn_gamma=0.6", "train.max_steps=6")
    result = train(cfg, progress=False, log=lambda m: None)
    ckpt = load_checkpoint(result.run_dir / "last")
    assert ckpt.config.model.posterior_bn_gamma == 0.6
    state = ckpt.model_state
    assert torch.all(state["mu_norm.gamma"] == 0.6)
    assert not torch.all(state["mu_norm.running_mean"] == 0)  # moved by the training batches
    model = build_model(ckpt.config.model, ckpt.tokenizer.vocab_size, ckpt.tokenizer.pad_id)
    load_weights(model, ckpt)
    torch.testing.assert_close(model.mu_norm.running_var, state["mu_norm.running_var"])
    # Evaluation normalizes with the running statistics: a sentence's mean does not depend on
    # the batch it is encoded in (batch statistics would make it).
    model.eval()
    ids = [ckpt.tokenizer.encode(s) for s in ("the dog ran .", "the cats sat .", "the owl barked .")]
    from textvae.text.data.batching import collate

    batch = collate(ids, bos_id=ckpt.tokenizer.bos_id, eos_id=ckpt.tokenizer.eos_id,
                    pad_id=ckpt.tokenizer.pad_id)
    with torch.no_grad():
        together, _ = model.encode(batch.ids[:, 1:], batch.lengths)
        alone, _ = model.encode(batch.ids[:1, 1:], batch.lengths[:1])
    torch.testing.assert_close(alone[0], together[0])


def test_du_vae_resumes_to_the_weights_and_statistics_of_an_uninterrupted_run(tiny_config):
    """DU-VAE's variance dropout draws from the training RNG and its BN head keeps running
    statistics: a resumed run must still end exactly where an uninterrupted one does."""
    from textvae.text.run.checkpoint import load_checkpoint
    from textvae.text.training.train import train

    du = ("model.posterior_bn_gamma=0.5", "model.posterior_var_dropout=0.3",
          "model.posterior_var_floor=1.0", "train.checkpoint_every=3", "train.eval_every=5")
    full = tiny_config(*du, "train.max_steps=11", out="full")
    train(full, progress=False, log=lambda m: None)
    part = tiny_config(*du, "train.max_steps=4", out="part")
    train(part, progress=False, log=lambda m: None)
    resumed = tiny_config(*du, "train.max_steps=11", out="part")
    train(resumed, resume=True, progress=False, log=lambda m: None)
    a = load_checkpoint(f"{full.train.out_dir}/last")
    b = load_checkpoint(f"{part.train.out_dir}/last")
    assert b.config.model.posterior_var_dropout == 0.3 and b.config.model.posterior_var_floor == 1.0
    assert a.model_state.keys() == b.model_state.keys()
    for name in a.model_state:
        assert torch.equal(a.model_state[name], b.model_state[name]), name
    assert not torch.all(a.model_state["mu_norm.running_mean"] == 0)


def test_du_vae_posterior_is_floored_and_deterministic_in_eval_mode():
    model = make_model(posterior_bn_gamma=0.5, posterior_var_dropout=0.4, posterior_var_floor=1.0)
    ids = torch.randint(3, V, (B, 9))
    lengths = torch.full((B,), 9)
    floor = math.log(1 / (2 * math.pi * math.e))
    model.train()
    _, logvar = model.encode(ids, lengths)
    assert (logvar >= floor - 1e-6).all()
    assert torch.isclose(logvar, torch.full_like(logvar, floor)).any()  # some variances dropped
    model.eval()
    first, second = model.encode(ids, lengths)[1], model.encode(ids, lengths)[1]
    torch.testing.assert_close(first, second)
    assert not torch.isclose(first, torch.full_like(first, floor)).any()
