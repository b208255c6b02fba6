"""A text training step never makes the host wait for the device, except on logging steps
(issue 20). The detector (tests/sync.py) runs on the CPU and treats every tensor inside the step
as a device tensor."""

import math

import pytest
import torch
from sync import SyncDetector

import textvae.text.training.train
from textvae.core.errors import TextVAEError
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.corpus import build_corpus
from textvae.text.training.train import Trainer


def _quiet(message: str) -> None:
    pass


def _trainer(tiny_config, *overrides: str) -> Trainer:
    cfg = tiny_config("train.device=cpu", *overrides)
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=_quiet)
    model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    return Trainer(cfg, corpus, model, torch.device("cpu"), progress=False, log=_quiet)


def _padded_batch(trainer: Trainer) -> list[int]:
    """Sentences of several lengths: the step packs the encoder input and gathers the decoder's
    non-pad outputs (a length-bucketed batch mostly needs neither)."""
    ids = trainer.corpus.ids["train"]
    picks, lengths = [], set()
    for i, sentence in enumerate(ids):
        if len(sentence) not in lengths:
            picks.append(i)
            lengths.add(len(sentence))
        if len(picks) == 5:
            break
    assert len(lengths) > 1
    return picks


MODELS = {
    "vae-lstm-uni": ("model.rnn_type=lstm",),
    "vae-lstm-bi": ("model.rnn_type=lstm", "model.bidirectional=true", "model.encoder_layers=2"),
    "vae-gru-uni": ("model.rnn_type=gru", "model.decoder_layers=2"),
    "vae-gru-bi": ("model.rnn_type=gru", "model.bidirectional=true", "model.z_to_inputs=true"),
    "lm-lstm": ("model.model_type=lm", "model.rnn_type=lstm"),
    "lm-gru": ("model.model_type=lm", "model.rnn_type=gru"),
    # Transformers (width 15, so 3 or 5 heads): the encoder's padding mask and mean pooling, the
    # decoder's memory mask, built on the device from host lengths.
    "vae-transformer-memory": ("model.encoder=transformer", "model.decoder=transformer",
                               "model.embed_dim=15", "model.heads=3", "model.decoder_layers=2"),
    "vae-gru-transformer-embedding": ("model.rnn_type=gru", "model.decoder=transformer",
                                      "model.z_conditioning=embedding", "model.embed_dim=15",
                                      "model.heads=5", "model.positions=sinusoidal"),
    "lm-transformer": ("model.model_type=lm", "model.decoder=transformer", "model.embed_dim=15",
                       "model.heads=3"),
}


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("nonfinite", ["stop", "skip"])
def test_a_training_step_never_waits_on_the_host(tiny_config, one_thread, model, padded,
                                                 nonfinite):
    trainer = _trainer(tiny_config, *MODELS[model], "train.free_bits=0.25", "train.word_dropout=0.3",
                       "train.grad_clip=5", f"train.nonfinite={nonfinite}")
    batch = _padded_batch(trainer) if padded else trainer.batches(0)[0]
    trainer.train_batch(batch)  # the first step builds the optimiser's state
    with SyncDetector() as syncs:
        terms, tokens = trainer.train_batch(batch)
    syncs.assert_none()
    assert isinstance(tokens, int) and tokens == sum(len(trainer.corpus.ids["train"][i]) + 1
                                                     for i in batch)
    assert torch.isfinite(terms.loss)


def test_a_kl_set_point_step_never_waits_on_the_host(tiny_config, one_thread):
    # The controller reads the step's KL (above this target from the start) and sets the next
    # weight on the device.
    trainer = _trainer(tiny_config, "train.kl.kind=target", "train.kl.target=0.01", "train.kl.ki=0.01")
    batch = _padded_batch(trainer)
    trainer.train_batch(batch)
    before = trainer.remedies.kl_weight(trainer.step)
    with SyncDetector() as syncs:
        terms, _ = trainer.train_batch(batch)
        trainer.train_batch(batch)
    syncs.assert_none()
    assert terms.kl_weight is before  # the weight of the step, as the controller held it
    assert float(trainer.remedies.kl_weight(trainer.step)) != float(before)


@pytest.mark.parametrize("kl", [(), ("train.kl.kind=target", "train.kl.target=3.5")],
                         ids=["annealed", "set-point"])
def test_only_logging_steps_read_the_device(tiny_config, one_thread, kl):
    """Through the loop: the host reads the device once or twice per logged row, not per step."""
    trainer = _trainer(tiny_config, "train.max_steps=12", "train.log_every=4", "train.eval_every=null",
                       "train.checkpoint_every=1000", "train.free_bits=0.25", *kl)
    trainer.validate = lambda: None  # validation reads its figures: not the step's business
    trainer.save = lambda *args, **kwargs: None
    with SyncDetector() as syncs:
        trainer.run()
    assert syncs.records, "the logged rows read the device"
    assert {r.where().split(":")[0] + " " + r.where().split(" in ")[1].split(":")[0]
            for r in syncs.records} <= {"textvae/text/training/train.py train_metrics",
                                        "textvae/core/training/optim.py read"}, syncs.report()
    assert len(syncs.records) <= 2 * 3, syncs.report()  # 3 logged rows


def test_the_detector_names_what_would_block():
    lengths = torch.tensor([3, 1, 2])
    x = torch.arange(6.0)
    with SyncDetector() as syncs:
        int(lengths.sum())
        x[x > 2]
        torch.repeat_interleave(torch.arange(3), lengths)
        torch.repeat_interleave(torch.arange(3), lengths, output_size=6)  # sized: no wait
        lengths.cpu()
        x.index_select(0, lengths)  # a plain gather: no wait
    ops = [r.op for r in syncs.records]
    assert ops == ["Tensor.__int__", "aten._local_scalar_dense.default",
                   "aten.index.Tensor with a boolean mask",
                   "aten.repeat_interleave.Tensor without output_size", "Tensor.cpu"]
    assert "test_sync.py" in syncs.records[0].where()
    with pytest.raises(AssertionError, match="int\\(lengths.sum\\(\\)\\)"):
        syncs.assert_none()


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_a_nonfinite_loss_updates_nothing_and_meets_its_policy_when_read(tiny_config, one_thread,
                                                                        monkeypatch, policy):
    trainer = _trainer(tiny_config, f"train.nonfinite={policy}", "train.grad_clip=5")
    batch = _padded_batch(trainer)
    trainer.train_batch(batch)
    trainer.step = 1
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = [{k: v.clone() for k, v in s.items()} for s in trainer.optimizer.state.values()]
    objective = textvae.text.training.train.vae_objective
    monkeypatch.setattr(textvae.text.training.train, "vae_objective",
                        lambda *a, **k: (t := objective(*a, **k))._replace(loss=t.loss * math.inf))
    with SyncDetector() as syncs:
        trainer.train_batch(batch)  # step 2: no update, and nothing read yet
    syncs.assert_none()
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())
    for saved, state in zip(moments, trainer.optimizer.state.values(), strict=True):
        assert all(torch.equal(saved[k], v) for k, v in state.items())  # step count too
    assert trainer.skipped_batches == 0
    if policy == "skip":
        trainer.settle_nonfinite()
        assert trainer.skipped_batches == 1
        trainer.settle_nonfinite()  # read once
        assert trainer.skipped_batches == 1
    else:
        with pytest.raises(TextVAEError, match="the training loss became inf at step 2; stopped"):
            trainer.settle_nonfinite()


def test_host_lengths_give_the_layout_of_the_boolean_mask(tiny_config, one_thread):
    """The gathered rows are those a boolean mask picks, in the same order, with or without
    host lengths (evaluation passes only device lengths)."""
    trainer = _trainer(tiny_config, "model.dropout=0")
    model = trainer.model.eval()
    batch = trainer._collate(_padded_batch(trainer))
    eps = torch.randn(len(batch.lengths), model.latent_dim, generator=torch.Generator().manual_seed(5))
    given = model(batch.ids, batch.lengths, eps=eps, host_lengths=batch.host_lengths)
    read = model(batch.ids, batch.lengths, eps=eps)
    mask = torch.arange(batch.ids.shape[1] - 1) < batch.lengths[:, None]  # (B, T)
    assert torch.equal(given.targets, batch.ids[:, 1:][mask])
    assert torch.equal(given.targets, read.targets) and torch.equal(given.logits, read.logits)
    assert given.logits.shape[0] == batch.n_tokens == int(batch.lengths.sum())
