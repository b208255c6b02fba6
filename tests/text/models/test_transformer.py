"""The transformer encoder and decoder of the sentence VAE (textvae/text/models/transformer.py).

Sizes are odd and distinct so that a transposed dimension fails: batch 3, time 7, vocabulary
11, latent 5, width 27 in 3 heads of 9, feed-forward 13, 2 layers, 2 memory slots.
"""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import textvae
from textvae.core.errors import ConfigError
from textvae.core.gaussian import kl_standard_normal
from textvae.text.generate import beam_search, greedy_decode, sample_decode
from textvae.text.models import transformer
from textvae.text.models.labelled import build_labelled_model
from textvae.text.models.model_config import ModelConfig
from textvae.text.models.registry import DECODERS, ENCODERS
from textvae.text.models.sentence_vae import SentenceVAE, build_model
from textvae.text.models.transformer import KVCache, Prefix, recomputing_prefix, sinusoid
from textvae.text.run.config import load_config

B, T, V, Z, E, HEADS, FF, LAYERS, SLOTS = 3, 7, 11, 5, 27, 3, 13, 2, 2
PAD, BOS, EOS = 0, 1, 2
LENGTHS = torch.tensor([7, 3, 5])  # words + eos
ENDS = {"bos_id": BOS, "eos_id": EOS}

# (encoder, decoder, z_conditioning, positions): every way a transformer enters the model.
KINDS = pytest.mark.parametrize(("encoder", "decoder", "conditioning", "positions"), [
    ("transformer", "transformer", "memory", "learned"),
    ("transformer", "transformer", "embedding", "sinusoidal"),
    ("transformer", "transformer", "both", "learned"),
    ("rnn", "transformer", "memory", "sinusoidal"),
    ("transformer", "rnn", "memory", "learned"),
])
CONDITIONING = pytest.mark.parametrize("conditioning", ["memory", "embedding", "both"])


def config(**overrides) -> ModelConfig:
    sizes = dict(encoder="transformer", decoder="transformer", embed_dim=E, heads=HEADS, ff_dim=FF,
                 encoder_layers=LAYERS, decoder_layers=LAYERS, memory_slots=SLOTS, latent_dim=Z,
                 encoder_hidden_dim=17, decoder_hidden_dim=19, max_positions=13)
    return ModelConfig(**{**sizes, **overrides})


def model(seed: int = 0, **overrides) -> SentenceVAE:
    torch.manual_seed(seed)
    vae = build_model(config(**overrides), V, PAD).eval()
    with torch.no_grad():  # peaky enough that untrained decodes vary in words and lengths
        vae.output.weight.mul_(6.0)
        vae.output.bias[EOS] += 1.0
    return vae


def batch(lengths: torch.Tensor = LENGTHS, seed: int = 3) -> torch.Tensor:
    """Framed ids (B, T+1): [bos, words, eos, pad...]."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), int(lengths.max()) + 1), PAD)
    for b, n in enumerate(lengths.tolist()):
        ids[b, 0] = BOS
        ids[b, 1:n] = torch.randint(3, V, (n - 1,), generator=g)
        ids[b, n] = EOS
    return ids


def as_trained(vae: SentenceVAE) -> SentenceVAE:
    """Give z's projection N(0, 1) weights, as training would: the columns a fresh model adds
    to the inputs start at zero, and the decoder would not read z through them."""
    with torch.no_grad():
        vae.latent_to_hidden.weight.normal_(generator=torch.Generator().manual_seed(4))
    return vae


def latents(seed: int = 1, rows: int = B) -> torch.Tensor:
    return torch.randn(rows, Z, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- structure


def test_the_registries_hold_every_kind_the_config_offers():
    from typing import get_args, get_type_hints

    hints = get_type_hints(ModelConfig)
    assert set(ENCODERS) == set(get_args(hints["encoder"])) == {"rnn", "transformer"}
    assert set(DECODERS) == set(get_args(hints["decoder"])) == {"rnn", "transformer"}


@KINDS
def test_shapes_of_every_mix_of_parts(encoder, decoder, conditioning, positions):
    vae = model(encoder=encoder, decoder=decoder, z_conditioning=conditioning, positions=positions)
    out = vae(batch(), LENGTHS)
    assert out.logits.shape == (int(LENGTHS.sum()), V) and out.mu.shape == (B, Z)
    summary = vae.summarize(batch()[:, 1:], LENGTHS)
    assert summary.shape == (B, E if encoder == "transformer" else LAYERS * 17)  # L*H
    if decoder == "transformer":
        width = {"embedding": E, "memory": LAYERS * 2 * SLOTS * E,
                 "both": E + LAYERS * 2 * SLOTS * E}[conditioning]
        assert vae.latent_to_hidden.out_features == width and vae.output.in_features == E


def test_both_reads_z_through_the_embeddings_and_the_memory():
    """Each part of the projection of z (the first E columns added to the inputs, the rest the
    memory slots) changes the logits on its own."""
    vae = model(seed=3, z_conditioning="both").eval()
    decoder = vae.decoder
    ids = batch(torch.full((B,), T))
    latent = torch.randn(B, E + LAYERS * 2 * SLOTS * E)
    inputs = vae.embedding(ids[:, :-1])  # (B, T, E)
    full = decoder.run(inputs, latent)
    for part in (slice(0, E), slice(E, None)):
        without = latent.clone()
        without[:, part] = 0
        assert not torch.allclose(decoder.run(inputs, without), full, atol=1e-4)
    assert decoder.memory_len == SLOTS and decoder.adds_z


@pytest.mark.parametrize("conditioning", ["embedding", "both"])
def test_the_addend_of_z_starts_at_zero_and_learns(conditioning):
    """A fresh model adds nothing to the inputs, so a decoder warm-started from an LM starts
    out reading its words as the LM did; the added columns still get a gradient at once."""
    vae = model(seed=2, z_conditioning=conditioning)
    projection = vae.latent_to_hidden
    assert projection.added == E and projection.out_features == E + (
        LAYERS * 2 * SLOTS * E if conditioning == "both" else 0)
    assert not projection.weight[:E].any() and not projection.bias[:E].any()  # (E, Z), (E,)
    if conditioning == "both":  # the memory columns keep torch's default draw
        assert projection.weight[E:].abs().amax() > 0.1
    ids = batch()
    logits = vae.decode(ids[:, :-1], LENGTHS, latents(1))
    logits.logsumexp(-1).sum().backward()
    assert projection.weight.grad is not None and projection.weight.grad[:E].abs().amax() > 0
    projection.reset_parameters()  # a decoder reset starts them at zero again
    assert not projection.weight[:E].any()


def test_odd_widths_get_every_sinusoid():
    table = sinusoid(torch.arange(4), 5)  # (T, E) with E odd: 3 sines, 2 cosines
    assert table.shape == (4, 5)
    torch.testing.assert_close(table[:, 0], torch.arange(4.0).sin())
    torch.testing.assert_close(table[:, 1], torch.arange(4.0).cos())


# --------------------------------------------------------------------------- masks and z


@pytest.mark.parametrize("conditioning", ["memory", "embedding", "both", None])
def test_the_decoder_is_causal(conditioning):
    vae = model(z_conditioning=conditioning or "memory", model_type="vae" if conditioning else "lm")
    z = latents() if conditioning else None
    ids = batch(torch.full((B,), T))
    before = vae.decode(ids[:, :-1], torch.full((B,), T), z).view(B, T, V)
    changed = ids.clone()
    changed[:, 4] = (changed[:, 4] + 1 - 3) % (V - 3) + 3  # another word at position 4
    after = vae.decode(changed[:, :-1], torch.full((B,), T), z).view(B, T, V)
    torch.testing.assert_close(after[:, :4], before[:, :4], rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, 4:], before[:, 4:])


@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_padding_never_changes_the_posterior(pooling):
    vae = model(encoder_pooling=pooling)
    tokens = batch()[:, 1:]  # (B, T): words + eos, then padding
    mu, logvar = vae.encode(tokens, LENGTHS)
    junk = tokens.clone()
    junk[tokens == PAD] = 7  # other content where the padding was
    wider = torch.cat([junk, torch.full((B, 4), 9)], dim=1)  # and more of it
    mu_junk, logvar_junk = vae.encode(wider, LENGTHS)
    torch.testing.assert_close(mu_junk, mu, rtol=0, atol=1e-6)
    torch.testing.assert_close(logvar_junk, logvar, rtol=0, atol=1e-6)
    for row, n in enumerate(LENGTHS.tolist()):  # each sentence alone, unpadded
        alone, _ = vae.encode(tokens[row:row + 1, :n], LENGTHS[row:row + 1])
        torch.testing.assert_close(alone, mu[row:row + 1], rtol=0, atol=1e-5)


@CONDITIONING
def test_both_conditionings_read_z(conditioning):
    vae = model(z_conditioning=conditioning)
    as_trained(vae)
    ids = batch()
    one = vae.decode(ids[:, :-1], LENGTHS, latents(1))
    other = vae.decode(ids[:, :-1], LENGTHS, latents(2))
    assert (one - other).abs().amax(dim=-1).min() > 1e-4  # every position reads z
    state = vae.initial_state(latents(1), B)
    first, _ = vae.decode_step(ids[:, 0], state, latents(1))
    second, _ = vae.decode_step(ids[:, 0], vae.initial_state(latents(2), B), latents(2))
    assert not torch.allclose(first, second)


def test_the_lm_baseline_and_the_z_checks():
    lm = model(model_type="lm")
    assert not hasattr(lm, "latent_to_hidden")
    assert lm(batch(), LENGTHS).z is None
    with pytest.raises(ValueError, match="takes no z"):
        lm.initial_state(latents(), B)
    with pytest.raises(ValueError, match="needs z"):
        model().initial_state(None, B)


def test_learned_positions_refuse_a_longer_sentence():
    vae = model(max_positions=5)
    with pytest.raises(ValueError, match="longer than model.max_positions \\(5\\)"):
        vae(batch(), LENGTHS)  # 7 positions
    sinusoidal = model(max_positions=5, positions="sinusoidal")
    assert sinusoidal(batch(), LENGTHS).logits.shape[0] == int(LENGTHS.sum())  # no table, no cap
    state = vae.initial_state(latents(), B)
    for _ in range(5):
        _, state = vae.decode_step(torch.full((B,), BOS), state, latents())
    with pytest.raises(ValueError, match="6 positions"):
        vae.decode_step(torch.full((B,), BOS), state, latents())


# --------------------------------------------------------------------------- decoding


@KINDS
def test_steps_reproduce_teacher_forcing(encoder, decoder, conditioning, positions):
    vae = model(encoder=encoder, decoder=decoder, z_conditioning=conditioning, positions=positions)
    ids, z = batch(torch.full((B,), T)), latents()
    forced = vae.decode(ids[:, :-1], torch.full((B,), T), z).view(B, T, V)
    for cache in (True, False):
        with recomputing_prefix(vae) if not cache else torch.no_grad():
            state = vae.initial_state(z, B)
            assert isinstance(state, KVCache if cache else Prefix) or decoder == "rnn"
            for t in range(T):
                logits, state = vae.decode_step(ids[:, t], state, z)
                torch.testing.assert_close(logits, forced[:, t], rtol=1e-4, atol=1e-5)


class Recorder:
    """A decoder that passes everything to ``model`` and keeps each step's log-probabilities."""

    def __init__(self, model):
        self.model, self.log_probs = model, []

    @property
    def training(self):
        return self.model.training

    def train(self, mode=True):
        return self.model.train(mode)

    def eval(self):
        return self.model.eval()

    def initial_state(self, z, batch_size):
        return self.model.initial_state(z, batch_size)

    def decode_step(self, tokens, state, z):
        logits, state = self.model.decode_step(tokens, state, z)
        self.log_probs.append(logits.log_softmax(dim=-1))
        return logits, state

    def reorder_state(self, state, index):
        return self.model.reorder_state(state, index)


DECODES = {
    "greedy": lambda m, z, rows: greedy_decode(m, z, **ENDS, max_len=9, batch_size=rows),
    "sample": lambda m, z, rows: sample_decode(m, z, **ENDS, max_len=9, batch_size=rows,
                                               temperature=0.8, top_k=7, top_p=0.9,
                                               generator=torch.Generator().manual_seed(4)),
    "beam": lambda m, z, rows: beam_search(m, z, **ENDS, max_len=9, beam_size=3, batch_size=rows),
}


# Untrained weights under which greedy and sampled rows end at different lengths (the last
# check of the next test): seed 5 gives such rows for the other conditionings, 6 for "both".
BOTH_SEED = 6


@pytest.mark.parametrize("room", [None, 2], ids=["room", "doubling"])
@pytest.mark.parametrize("method", list(DECODES))
@pytest.mark.parametrize("conditioning", ["memory", "embedding", "both", None])
def test_the_cache_changes_no_token_and_no_log_probability(method, conditioning, room,
                                                            monkeypatch):
    if room is not None:  # a cache that starts with room for 2 tokens doubles twice by 9
        monkeypatch.setattr(transformer, "CACHE_START", room)
    vae = model(seed=BOTH_SEED if conditioning == "both" else 5,
                z_conditioning=conditioning or "memory",
                model_type="vae" if conditioning else "lm")
    if conditioning:
        as_trained(vae)
    z, rows = (latents(), None) if conditioning else (None, B)
    cached, uncached = Recorder(vae), Recorder(vae)
    tokens = DECODES[method](cached, z, rows)
    with recomputing_prefix(vae):
        assert DECODES[method](uncached, z, rows) == tokens
    assert vae.decoder.use_cache  # switched back on
    assert len(cached.log_probs) == len(uncached.log_probs) > 1
    for a, b in zip(cached.log_probs, uncached.log_probs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if method == "sample" or (method == "greedy" and conditioning):  # rows that differ
        assert len({len(row) for row in tokens}) > 1  # finished rows ride along as eos


def test_a_labelled_model_decodes_through_its_vae_with_the_cache():
    torch.manual_seed(0)
    labelled = build_labelled_model(config(), V, PAD, (3, 2), label_embed_dim=4,
                                    with_classifier=True).eval()
    labels = torch.tensor([[0, 1], [2, 0], [1, 1]])
    out = labelled(batch(), LENGTHS, labels)
    assert out.logits.shape == (int(LENGTHS.sum()), V)
    assert labelled.classify(batch()[:, 1:], LENGTHS).shape == (B, 3)  # the shared encoder
    latent = labelled.decoder_latent(latents(), labels)  # (B, Z + 2*4)
    rows = greedy_decode(labelled.vae, latent, **ENDS, max_len=6)
    with recomputing_prefix(labelled):
        assert greedy_decode(labelled.vae, latent, **ENDS, max_len=6) == rows


def test_the_remedies_find_and_reset_the_transformer_parts():
    from textvae.text.models.contracts import SentenceModel, UnconditionedSentenceModel
    from textvae.text.training.remedies import decoder_modules, encoder_parameters, reset_decoder

    vae = model(tie_embeddings=True)
    assert isinstance(vae, SentenceModel) and isinstance(vae, UnconditionedSentenceModel)
    assert decoder_modules(vae) == [vae.latent_to_hidden, vae.decoder, vae.output]
    assert {id(p) for p in encoder_parameters(vae)} == {
        id(p) for m in (vae.encoder, vae.to_mu, vae.to_logvar) for p in m.parameters()}
    with torch.no_grad():
        vae.decoder.blocks[0].attn_norm.weight.fill_(2.0)  # as if trained
    before = {name: p.detach().clone() for name, p in vae.named_parameters()}
    reset_decoder(vae, torch.optim.Adam(vae.parameters()), seed=5)
    after = dict(vae.named_parameters())
    assert torch.equal(after["embedding.weight"], before["embedding.weight"])  # = output.weight
    for name in ("decoder.blocks.1.qkv.weight", "decoder.positions.table.weight",
                 "latent_to_hidden.weight"):
        assert not torch.equal(after[name], before[name]), name
    assert torch.equal(after["encoder.blocks.0.qkv.weight"], before["encoder.blocks.0.qkv.weight"])
    assert torch.equal(after["decoder.blocks.0.attn_norm.weight"].detach(),
                       torch.ones(E))  # the LayerNorms too


# --------------------------------------------------------------------------- training


def _loss(out) -> torch.Tensor:
    loss = F.cross_entropy(out.logits.float(), out.targets, reduction="sum")
    if out.mu is not None:
        loss = loss + kl_standard_normal(out.mu, out.logvar).sum()
    return loss / len(out.lengths)


@KINDS
def test_a_few_steps_on_one_batch_lower_the_loss(encoder, decoder, conditioning, positions,
                                                 one_thread):
    vae = model(encoder=encoder, decoder=decoder, z_conditioning=conditioning,
                positions=positions, dropout=0.1).train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)
    ids, g = batch(), torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        loss = _loss(vae(ids, LENGTHS, generator=g))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_bf16_autocast_runs_a_transformer_on_the_cpu():
    vae = model(posterior_bn_gamma=0.7).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vae(batch(), LENGTHS)
    assert out.logits.dtype == torch.bfloat16  # the blocks and the output layer ran in bf16
    assert out.mu.dtype == out.z.dtype == torch.float32  # the posterior stays float32
    _loss(out).backward()
    assert all(p.grad is not None for p in vae.decoder.parameters())
    assert torch.isfinite(vae.latent_to_hidden.weight.grad).all()


@CONDITIONING
def test_the_cache_keeps_the_autocast_dtype_and_grows_in_place(conditioning, monkeypatch):
    monkeypatch.setattr(transformer, "CACHE_START", 3)
    vae = model(z_conditioning=conditioning)
    z, memory = latents(), 0 if conditioning == "embedding" else SLOTS
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        state = vae.initial_state(z, B)
        assert state.keys[0].shape == (B, HEADS, memory + 3, E // HEADS)  # float32 until a step
        first = vae.decode_step(torch.full((B,), BOS), state, z)[1]
        assert first.keys[0].dtype == torch.bfloat16  # cast once, not at every step
        second = vae.decode_step(torch.full((B,), BOS), first, z)[1]
        assert second.keys[0].data_ptr() == first.keys[0].data_ptr()  # written in place
        assert second.filled.shape == (memory + 2,)
        state = second
        for _ in range(2):  # the third and fourth tokens: the room of 3 doubles once
            state = vae.decode_step(torch.full((B,), BOS), state, z)[1]
    assert state.keys[0].shape[2] == 2 * (memory + 3) and state.filled.shape == (memory + 4,)
    assert state.keys[0].data_ptr() != first.keys[0].data_ptr()


def test_a_transformer_run_trains_in_bf16_where_rnns_cannot(tiny_config, one_thread, monkeypatch):
    import textvae.core.device as device
    from textvae.text.training.train import train

    monkeypatch.setitem(device._BF16_RNNS, "cpu", False)  # a CPU without AVX512 or AMX
    cfg = tiny_config("train.amp=bf16", "train.device=cpu", "train.max_steps=2",
                      "model.encoder=transformer", "model.decoder=transformer",
                      "model.embed_dim=15", "model.heads=3")
    assert train(cfg, progress=False, log=lambda message: None).step == 2
    with pytest.raises(ConfigError, match="cannot run LSTM or GRU layers in bfloat16"):
        train(tiny_config("train.amp=bf16", "model.decoder=transformer", "model.embed_dim=15",
                          "model.heads=3", out="mixed"), progress=False, log=lambda message: None)


def test_a_run_trains_saves_and_loads_exactly(tiny_config, one_thread):
    from safetensors.torch import load_file

    from textvae.text.training.train import train

    cfg = tiny_config("model.encoder=transformer", "model.decoder=transformer",
                      "model.embed_dim=15", "model.heads=5", "model.positions=sinusoidal",
                      "model.posterior_bn_gamma=0.7", "train.kl.kind=constant",
                      "train.max_steps=24", "train.log_every=4", "train.eval_every=null")
    result = train(cfg, progress=False, log=lambda message: None)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if row["split"] == "train"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    tv = textvae.load(result.run_dir / "last", device="cpu")
    assert (tv.config.model.encoder, tv.config.model.decoder, tv.config.model.heads) == (
        "transformer", "transformer", 5)
    saved = load_file(str((result.run_dir / "last" / "model.safetensors").resolve()))
    state = tv.model.state_dict()
    assert saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in saved)
    assert len(tv.sample(4, seed=0)) == 4


# --------------------------------------------------------------------------- the config


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.decoder=transformer", "model.z_to_inputs=true"], "set model.z_to_inputs=false"),
    (["model.encoder=transformer", "model.bidirectional=true"], "set model.bidirectional=false"),
    (["model.decoder=transformer", "model.embed_dim=10", "model.heads=4"],
     "model.embed_dim \\(10\\) must be a multiple of model.heads \\(4\\)"),
    (["model.decoder=transformer", "model.z_conditioning=prefix"],
     "model.z_conditioning: invalid choice 'prefix'; valid choices: 'embedding', 'memory', 'both'"),
    (["model.encoder=cnn"], "model.encoder: invalid choice 'cnn'; valid choices: 'rnn', 'transformer'"),
    (["model.positions=rotary"], "model.positions: invalid choice"),
    (["model.heads=0"], "model.heads must be positive"),
    (["model.ff_dim=0"], "model.ff_dim must be positive or null"),
    (["model.memory_slots=0"], "model.memory_slots must be positive"),
    (["model.decoder=transformer", "data.max_len=300"],
     "data.max_len 300 needs 301 learned positions .* model.max_positions is 256"),
    (["model.transformer_layers=2"], "unknown key 'model.transformer_layers'"),
])
def test_contradictions_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_what_the_config_allows():
    # An RNN decoder ignores the transformer keys; tying needs equal sizes only for an RNN.
    load_config(None, ["model.heads=7", "model.decoder=rnn"])
    load_config(None, ["model.decoder=transformer", "model.tie_embeddings=true",
                       "model.decoder_hidden_dim=99"])
    load_config(None, ["model.decoder=transformer", "model.positions=sinusoidal",
                       "data.max_len=300"])
    lm = load_config(None, ["model.model_type=lm", "model.decoder=transformer"]).model
    assert (lm.uses_transformer(), lm.uses_rnn(), lm.describe()) == (True, False, "transformer")
    mixed = config(encoder="rnn", rnn_type="gru")
    assert (mixed.uses_rnn(), mixed.describe()) == (True, "GRU encoder, transformer decoder")


TEXT_CONFIGS = sorted(p.stem for p in (Path(__file__).resolve().parents[3] / "configs").glob("*.yaml")
                      if not p.stem.startswith(("mnist", "sprites")))


@pytest.mark.parametrize("name", TEXT_CONFIGS)
def test_one_override_makes_any_text_config_a_transformer(name):
    """The file's keys of the RNN part replaced give way (quickstart sets z_to_inputs and a
    bidirectional encoder); the same keys given with --set still conflict (above)."""
    both = load_config(name, ["model.decoder=transformer", "model.encoder=transformer"]).model
    assert (both.decoder, both.encoder, both.z_to_inputs, both.bidirectional) == (
        "transformer", "transformer", False, False)
    file = load_config(name).model
    decoder_only = load_config(name, ["model.decoder=transformer"]).model
    assert decoder_only.bidirectional == file.bidirectional  # the RNN encoder keeps its keys


@pytest.mark.parametrize("name", ["ptb_transformer_lm", "ptb_transformer_vae",
                                  "quickstart_transformer"])
def test_the_shipped_transformer_configs_build(name):
    cfg = load_config(name)
    assert cfg.model.decoder == "transformer" and not cfg.model.uses_rnn()
    torch.manual_seed(0)
    vae = build_model(cfg.model, 10003, 0)
    if name.startswith("ptb"):  # about the LSTM rows' size (ptb_lm 5.66M, ptb_best 6.24M)
        assert 5.5e6 < sum(p.numel() for p in vae.parameters()) < 6.9e6


# --------------------------------------------------------------------------- CUDA


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


@CUDA
@CONDITIONING
def test_bf16_training_and_cached_decoding_on_cuda(conditioning):
    device = torch.device("cuda")
    vae = model(z_conditioning=conditioning).to(device).train()
    ids, lengths = batch().to(device), LENGTHS.to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = vae(ids, lengths, host_lengths=LENGTHS.tolist(),
                  generator=torch.Generator(device=device).manual_seed(0))
    assert out.logits.dtype == torch.bfloat16 and out.mu.dtype == torch.float32
    _loss(out).backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in vae.decoder.parameters())
    vae.eval()
    z = latents().to(device)
    cached, uncached = Recorder(vae), Recorder(vae)
    rows = DECODES["beam"](cached, z, None)
    with recomputing_prefix(vae):
        assert DECODES["beam"](uncached, z, None) == rows
    for a, b in zip(cached.log_probs, uncached.log_probs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@CUDA
def test_a_transformer_training_step_never_syncs_on_cuda(tiny_config):
    from textvae.text.run.corpus import build_corpus
    from textvae.text.training.train import Trainer

    cfg = tiny_config("train.device=cuda", "model.encoder=transformer", "model.decoder=transformer",
                      "model.embed_dim=15", "model.heads=3", "train.free_bits=0.25")
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=lambda message: None)
    vae = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    device = torch.device("cuda")
    trainer = Trainer(cfg, corpus, vae.to(device), device, progress=False, log=lambda m: None)
    batches = trainer.batches(0)
    for indices in batches[:2]:
        trainer.train_batch(indices)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for indices in batches[2:5]:
            trainer.train_batch(indices)
    finally:
        torch.cuda.set_sync_debug_mode("default")
