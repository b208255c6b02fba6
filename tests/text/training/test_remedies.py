"""Collapse remedies: aggressive encoder training, AE pretraining + decoder reset + free bits,
and the collapse warning."""

import json
from pathlib import Path

import pytest
import torch

from textvae.core.errors import ConfigError
from textvae.text.data.batching import collate
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.corpus import build_corpus
from textvae.text.training.remedies import (
    COLLAPSE_KL_NATS,
    decoder_modules,
    encoder_converged,
    encoder_parameters,
)
from textvae.text.training.train import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def make_trainer(tiny_config, *overrides):
    cfg = tiny_config(*overrides)
    logs = []
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=lambda m: None)
    torch.manual_seed(0)
    model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    trainer = Trainer(cfg, corpus, model, torch.device("cpu"), progress=False, log=logs.append)
    return trainer, logs


def snapshot(params):
    return [p.detach().clone() for p in params]


def same(before, params):
    return all(torch.equal(a, b) for a, b in zip(before, params, strict=True))


def decoder_side(model):
    """Every parameter that is not the encoder's own (the shared embedding included)."""
    enc = {id(p) for p in encoder_parameters(model)}
    return [p for p in model.parameters() if id(p) not in enc]


def a_batch(trainer):
    tok = trainer.tokenizer
    return collate(trainer.corpus.ids["train"][:7], bos_id=tok.bos_id, eos_id=tok.eos_id,
                   pad_id=tok.pad_id)


# ------------------------------------------------------------------------------ aggressive


def test_encoder_converged_compares_window_means():
    assert not encoder_converged([5.0] * 8, window=3)  # not at a window boundary
    assert not encoder_converged([5.0, 5.0, 5.0], window=3)  # one window: nothing to compare
    assert not encoder_converged([5, 5, 5, 4, 4, 4], window=3)  # still improving
    assert encoder_converged([5, 5, 5, 4, 4, 4, 4, 4.5, 3.5], window=3)  # mean 4 >= 4
    assert encoder_converged([3, 3, 3, 4, 4, 4], window=3)


def test_inner_loop_updates_only_the_encoder_and_is_capped(tiny_config):
    trainer, _ = make_trainer(tiny_config, "train.aggressive=true", "train.aggressive_max_inner=7")
    model = trainer.model
    dec_before, enc_before = snapshot(decoder_side(model)), snapshot(encoder_parameters(model))
    taken = trainer.remedies._inner_loop(0)
    assert taken == 7  # fewer than two windows of 10: only the cap can stop it
    assert trainer.remedies.inner_steps == 7
    assert same(dec_before, decoder_side(model))
    assert not same(enc_before, encoder_parameters(model))


def test_outer_step_updates_only_the_decoder_while_aggressive(tiny_config, monkeypatch):
    trainer, _ = make_trainer(tiny_config, "train.aggressive=true")
    calls = []
    monkeypatch.setattr(trainer.remedies, "_inner_loop", lambda step: calls.append(step) or 0)
    model = trainer.model
    dec_before, enc_before = snapshot(decoder_side(model)), snapshot(encoder_parameters(model))
    batch = a_batch(trainer)
    trainer.train_step(batch.ids, batch.lengths)
    assert calls == [0]
    assert same(enc_before, encoder_parameters(model))
    assert not same(dec_before, decoder_side(model))
    # Switched off, the step updates both again.
    trainer.remedies.aggressive = False
    trainer.train_step(batch.ids, batch.lengths)
    assert calls == [0] and not same(enc_before, encoder_parameters(model))


def test_aggressive_switches_off_when_validation_mi_stops_rising(tiny_config):
    trainer, logs = make_trainer(tiny_config, "train.aggressive=true")
    healthy = {"kl": 3.0, "active_units": 4}
    mis, expected_states = [0.5, 0.9, 0.8, 2.0], (True, True, False, False)
    for step, (mi, expected) in enumerate(zip(mis, expected_states, strict=True)):
        assert trainer.remedies.wants_mutual_information is (step < 3)
        trainer.remedies.on_validation({**healthy, "mutual_information": mi}, step)
        assert trainer.remedies.aggressive is expected
    assert sum("aggressive encoder training off" in m for m in logs) == 1
    assert "0.800" in next(m for m in logs if "aggressive" in m)


def test_aggressive_training_runs_end_to_end(tiny_config):
    cfg = tiny_config("train.aggressive=true", "train.aggressive_max_inner=3",
                      "train.max_steps=6", "train.eval_every=2")
    logs = []
    train(cfg, progress=False, log=logs.append)
    lines = (Path(cfg.train.out_dir) / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    valid = [r for r in rows if r["split"] == "valid" and "mutual_information" in r]
    assert valid  # MI was measured while aggressive
    assert all(isinstance(r["mutual_information"], float) for r in valid)


def test_remedies_need_a_vae(tiny_config):
    with pytest.raises(ConfigError, match="need a VAE"):
        make_trainer(tiny_config, "model.model_type=lm", "train.aggressive=true")


# ------------------------------------------------------------------------------ pretraining


def test_pretraining_resets_the_decoder_then_applies_free_bits(tiny_config):
    trainer, logs = make_trainer(
        tiny_config, "train.pretrain_ae_steps=3", "train.free_bits=5.0",
        "train.kl.kind=constant", "train.word_dropout=0.0", "model.dropout=0.0",
    )
    rem, model = trainer.remedies, trainer.model
    batch = a_batch(trainer)
    for _ in range(3):
        assert rem.kl_weight(trainer.step) == 0.0 and rem.free_bits() == 0.0
        terms = trainer.train_step(batch.ids, batch.lengths)
        trainer.step += 1
        # An autoencoder: the loss is the reconstruction alone, while the KL is still reported.
        assert terms.loss.item() == pytest.approx(terms.reconstruction.item())
        assert terms.kl.item() > 0
    decoder = [p for m in decoder_modules(model) for p in m.parameters()]
    trained_dec, trained_enc = snapshot(decoder), snapshot(encoder_parameters(model))
    embedding = model.embedding.weight.detach().clone()
    assert all(p in trainer.optimizer.state for p in decoder)
    rem.on_step_start(trainer.step)  # the switch
    assert not rem.pretraining
    reset_weights = snapshot(decoder)
    assert all(not torch.equal(a, b) for a, b in zip(trained_dec, decoder, strict=True))
    assert same(trained_enc, encoder_parameters(model))
    assert torch.equal(embedding, model.embedding.weight)
    assert not any(p in trainer.optimizer.state for p in decoder)  # fresh optimiser state
    assert sum("decoder reinitialised" in m for m in logs) == 1
    # Now the KL term is on (constant weight 1) with 5 nats of free bits per dimension.
    assert rem.kl_weight(trainer.step) == 1.0 and rem.free_bits() == 5.0
    terms = trainer.train_step(batch.ids, batch.lengths)
    latent = trainer.config.model.latent_dim
    assert terms.loss.item() >= terms.reconstruction.item() + 5.0 * latent - 1e-4
    # The fresh weights depend only on the seed (same on every rank and after a resume), and
    # the reset does not move the training streams.
    again, _ = make_trainer(tiny_config, "train.pretrain_ae_steps=3", "train.free_bits=5.0")
    cpu_rng = torch.get_rng_state()
    again.remedies.on_step_start(3)
    assert torch.equal(cpu_rng, torch.get_rng_state())
    fresh = [p for m in decoder_modules(again.model) for p in m.parameters()]
    assert same(reset_weights, fresh)
    # The switch happens once: a later step does not reset again.
    after = snapshot(decoder)
    rem.on_step_start(trainer.step + 1)
    assert same(after, decoder)


def test_the_kl_set_point_starts_after_pretraining(tiny_config):
    trainer, _ = make_trainer(tiny_config, "train.pretrain_ae_steps=3", "train.kl.kind=target",
                              "train.kl.target=0.05", "train.kl.ki=0.01")
    rem, batch = trainer.remedies, a_batch(trainer)
    for _ in range(3):  # an autoencoder: weight 0, and the controller sees none of these steps
        assert rem.kl_weight(trainer.step) == 0.0
        trainer.train_step(batch.ids, batch.lengths)
        trainer.step += 1
        assert float(rem.kl_schedule.state_dict()["observed"]) == 0.0
    terms = trainer.train_step(batch.ids, batch.lengths)  # the switch, then the first KL seen
    assert float(terms.kl_weight) == 0.0  # the controller's floor
    state = rem.kl_schedule.state_dict()
    assert float(state["observed"]) == 1.0 and float(state["kl_average"]) == pytest.approx(terms.kl.item())
    assert float(rem.kl_weight(trainer.step)) > 0  # the KL is above this target: the weight rises


def test_pretraining_phase_survives_resume(tiny_config):
    trainer, _ = make_trainer(tiny_config, "train.pretrain_ae_steps=2", "train.aggressive=true")
    trainer.remedies.pretraining = False
    trainer.remedies.aggressive = False
    trainer.remedies.best_mi = 1.25
    state = trainer.state_dict()
    other, _ = make_trainer(tiny_config, "train.pretrain_ae_steps=2", "train.aggressive=true")
    other.load_state_dict(state)
    assert not other.remedies.pretraining and not other.remedies.aggressive
    assert other.remedies.best_mi == 1.25


# ------------------------------------------------------------------------------ collapse warning


def test_warning_fires_once_after_patience_collapsed_validations(tiny_config):
    trainer, logs = make_trainer(tiny_config, "train.collapse_patience=3")
    collapsed = {"kl": COLLAPSE_KL_NATS / 2, "active_units": 2}
    dead = {"kl": 0.9, "active_units": 0}  # no active unit and under 1 nat
    healthy = {"kl": 4.0, "active_units": 3}
    small_scale = {"kl": 4.0, "active_units": 0}  # information in small-scale means: not collapse
    for valid in (collapsed, dead, healthy, collapsed, dead, small_scale, dead):
        trainer.remedies.on_validation(dict(valid), 0)  # interrupted each time: no warning yet
    assert not any("posterior collapse" in m for m in logs)
    for valid in (collapsed, collapsed, collapsed):
        trainer.remedies.on_validation(dict(valid), 0)
    assert sum("posterior collapse" in m for m in logs) == 1


def test_warning_can_be_switched_off(tiny_config):
    trainer, logs = make_trainer(tiny_config, "train.collapse_warning=false",
                                 "train.collapse_patience=1")
    logs.clear()  # the trainer's start notes (precision)
    trainer.remedies.on_validation({"kl": 0.0, "active_units": 0}, 0)
    assert not logs


def test_forced_collapse_warns_and_a_healthy_run_does_not(tiny_config):
    common = ["train.max_steps=40", "train.eval_every=10", "train.collapse_patience=2",
              "train.lr=0.03", "train.kl.kind=constant", "train.word_dropout=0.5"]
    logs = []
    train(tiny_config(*common, "train.kl.max_weight=1000.0", out="collapsed"), progress=False,
          log=logs.append)
    assert sum("posterior collapse" in m for m in logs) == 1
    logs = []  # a small KL weight: the KL stays above a nat
    train(tiny_config(*common, "train.kl.max_weight=0.05", out="healthy"), progress=False,
          log=logs.append)
    assert not any("posterior collapse" in m for m in logs)


def test_pretraining_validations_do_not_pick_best_or_decay_the_lr(tiny_config):
    trainer, _ = make_trainer(tiny_config, "train.pretrain_ae_steps=100")
    trainer.run_dir.mkdir(parents=True)
    trainer._scheduled_validation(end_of_epoch=True)
    assert trainer.best_neg_elbo == float("inf") and trainer.bad_epochs == 0
    trainer.remedies.pretraining = False
    trainer._scheduled_validation(end_of_epoch=True)
    assert trainer.best_neg_elbo < float("inf")


# ------------------------------------------------------------------------------ found in review


def test_decoder_reset_keeps_a_tied_embedding():
    """With tie_embeddings the output weight *is* the embedding: the reset after pretraining
    must keep its pretrained values, its zero padding row and its optimiser state, and reset
    only the output bias (and the rest of the decoder)."""
    from textvae.text.models.sentence_vae import ModelConfig
    from textvae.text.training.remedies import reset_decoder

    torch.manual_seed(3)
    cfg = ModelConfig(embed_dim=17, encoder_hidden_dim=13, decoder_hidden_dim=17, latent_dim=7,
                      tie_embeddings=True)
    model = build_model(cfg, vocab_size=37, pad_id=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    ids = torch.randint(4, 37, (5, 9))
    ids[:, 0] = 2
    out = model(ids, torch.full((5,), 8))
    out.logits.logsumexp(-1).sum().backward()
    optimizer.step()  # moments for every parameter; the embedding moved away from its init
    embedding = model.embedding.weight
    assert model.output.weight is embedding
    before = embedding.detach().clone()
    bias_before = model.output.bias.detach().clone()
    rnn_before = snapshot(model.decoder.parameters())
    reset_decoder(model, optimizer, seed=11)
    assert model.output.weight is embedding
    assert torch.equal(embedding, before)  # pretrained values kept, padding row included
    assert embedding in optimizer.state  # its Adam moments kept
    assert not torch.equal(model.output.bias, bias_before)  # the decoder's own parts reset
    assert not same(rnn_before, model.decoder.parameters())
    assert model.output.bias not in optimizer.state
    fresh = build_model(cfg, vocab_size=37, pad_id=0)
    reset_decoder(fresh, torch.optim.Adam(fresh.parameters()), seed=11)
    assert torch.equal(fresh.embedding.weight[0], torch.zeros(17))  # the padding row stays zero


def test_aggressive_outer_step_clips_by_the_decoder_gradients_alone(tiny_config, monkeypatch):
    """While aggressive, the outer step applies only decoder gradients; clipping must use their
    norm, not one that also counted the encoder gradients the step then discards."""
    trainer, _ = make_trainer(tiny_config, "train.aggressive=true", "train.grad_clip=0.05",
                              "train.optimizer=sgd", "train.lr=1.0", "train.word_dropout=0.0",
                              "model.dropout=0.0")
    monkeypatch.setattr(trainer.remedies, "_inner_loop", lambda step: 0)
    model = trainer.model
    batch = a_batch(trainer)
    encoder = {id(p) for p in encoder_parameters(model)}
    decoder = [p for p in model.parameters() if id(p) not in encoder]
    trainer.train_step(batch.ids, batch.lengths)  # leaves .grad as the step applied it
    assert all(p.grad is None for p in encoder_parameters(model))
    applied = [p.grad for p in decoder if p.grad is not None]
    norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in applied])))
    # The full gradient's norm is far above 0.05, so the applied one is clipped to exactly it;
    # clipped by the norm with the encoder's gradients counted, it would be smaller.
    assert norm == pytest.approx(0.05, rel=1e-6)
