"""Training a sentence model: the text :class:`Trainer` and the :func:`train` entry point.

    config -> corpus (tokenizer fit on train) -> model -> Trainer.run() -> run directory

The loop, validation schedule, ``best`` selection and signal handling are
:class:`~textvae.core.training.loop.TrainerBase`'s, shared with the image trainer; the run-directory
rules are :mod:`textvae.core.training.run_dir`'s.

Determinism and resume: the batch order depends only on (seed, epoch); word dropout and the
reparameterization noise draw from one seeded generator; dropout layers draw from torch's global
generator. A checkpoint stores all three positions, so on CPU a run interrupted and resumed ends
with exactly the weights of an uninterrupted one. Validation draws from its own generator,
seeded afresh each time, so it never moves the training streams; so does word deletion, from a
host generator seeded by (seed, step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from textvae.core import distributed
from textvae.core.device import autocast, check_rnn_precision, resolve_device
from textvae.core.distributed import Distributed
from textvae.core.errors import ConfigError
from textvae.core.gaussian import kl_standard_normal
from textvae.core.objectives import (
    LossTerms,
    reconstruction_nll,
    vae_objective,
    word_deletion,
    word_dropout,
)
from textvae.core.training.loop import VALIDATION_SEED_OFFSET, TrainerBase
from textvae.core.training.run_dir import open_run, resume_trainer, save_checkpoint
from textvae.text.data.batching import Batch, BucketBatchSampler, collate
from textvae.text.models.contracts import SentenceModel
from textvae.text.models.sentence_vae import SentenceVAEOutput, build_model
from textvae.text.run.checkpoint import TEXT, starting_weights
from textvae.text.run.config import Config, with_warm_start_tokenizer
from textvae.text.run.corpus import Corpus, build_corpus, given_sentences, with_absolute_paths
from textvae.text.training.rank_rows import EncoderInputs, StepRows, global_terms, this_ranks_rows
from textvae.text.training.remedies import Remedies
from textvae.text.training.result import TrainResult, summary
from textvae.text.training.validate import evaluate_elbo

# Word deletion's host generator is seeded with seed * this + step: one stream per step.
WORD_DELETION_SEED_STRIDE = 1_000_033


class Trainer(TrainerBase[TrainResult, SentenceModel]):
    """Owns the model, optimiser, schedules and counters of one sentence-model run; the loop
    and what it shares with the image trainer are :class:`TrainerBase`'s.

    Args:
        config: the run config.
        corpus: tokenized train and valid splits.
        model: the model (a :class:`~textvae.text.models.contracts.SentenceModel`), already on
            ``device``.
        device: where to train.
        progress: show progress (:mod:`textvae.core.progress`: a bar on a terminal, else lines).
        log: where one-line messages go.
        dist: this process's place in a distributed job (:mod:`textvae.core.distributed`); the
            default is a single process.
    """

    def __init__(
        self,
        config: Config,
        corpus: Corpus,
        model: SentenceModel,
        device: torch.device,
        *,
        progress: bool = True,
        log: Callable[[str], None] = print,
        dist: Distributed | None = None,
    ) -> None:
        self.dist = dist or Distributed()
        super().__init__(config, model, device, log=log if self.dist.is_main else _silent,
                         writes=self.dist.is_main, progress=progress and self.dist.is_main)
        self.corpus = corpus
        self.tokenizer = corpus.tokenizer
        valid = corpus.ids["valid"]
        if self.tc.valid_sentences is not None and self.tc.valid_sentences < len(valid):
            picks = torch.randperm(len(valid), generator=torch.Generator().manual_seed(
                self.tc.seed + VALIDATION_SEED_OFFSET))[: self.tc.valid_sentences]
            valid = [valid[i] for i in sorted(picks.tolist())]
        self.valid_ids = valid  # what every validation scores
        if self.tc.word_deletion > 0 and not model.is_vae:
            raise ConfigError("train.word_deletion perturbs the encoder's input, and the LM "
                              "baseline (model.model_type: lm) has no encoder: set it to 0")
        # Forward passes go through the DDP wrapper (it all-reduces gradients in backward);
        # state dicts and generation use the plain module.
        self.forward_model: Callable[..., SentenceVAEOutput] = model
        if self.dist.enabled:
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"a distributed job trains a torch module, not {type(model)}")
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        if self.tc.compile:  # after the DDP wrap, as torch's DDP + compile notes advise
            self.forward_model = torch.compile(self.forward_model, dynamic=True)
        train_lengths = [len(x) + 1 for x in corpus.ids["train"]]
        self.sampler = BucketBatchSampler(
            train_lengths, self.tc.batch_size, seed=self.tc.seed, bucketed=self.tc.bucketed,
            min_batch=min(self.dist.world_size, self.tc.batch_size),
        )
        self.best_neg_elbo = math.inf
        # Before the remedies take the schedule; the KL counts after any autoencoder pretraining.
        self.anneal_in_run_steps(steps_before_kl=self.tc.pretrain_ae_steps or 0)
        # Collapse remedies and warning (textvae/text/training/remedies.py).
        self.remedies = Remedies(
            model, self.optimizer, self.tc, log=self.log, random_batch=self._random_batch,
            generator=self.generator, unk_id=self.tokenizer.unk_id, device=device,
            distributed=self.dist.enabled,
        )

    def _annealing_notes(self) -> list[str]:
        weight, top = self.remedies.kl_weight(self.step), self.tc.kl.max_weight
        # A controller's weight (a tensor) holds a KL set point: it has no annealing to finish.
        if isinstance(weight, torch.Tensor) or not (self.model.is_vae and top > 0
                                                    and weight < 0.99 * top):
            return []
        return [
            f"warning: the run ended at step {self.step} with the KL weight at {weight:.3g} of "
            f"its {top:g}: the KL annealing had not finished, so the model is closer to an "
            "autoencoder than a VAE (prior samples will be poor). Train longer, or set "
            "train.kl.anneal_fraction (e.g. 0.5) to fit the annealing into the run"
        ]

    best_counter = "best_neg_elbo"
    counters = (*TrainerBase.counters, best_counter)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "remedies": self.remedies.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.remedies.load_state_dict(state.get("remedies", {}))

    def _any_rank(self, flag: bool) -> bool:
        # Ranks agree, so that no rank waits in a gradient all-reduce the others skipped.
        return self.dist.any(flag, self.device)

    def _stop_check_due(self, epoch_done: bool) -> bool:
        # Ranks compare the clock and signals on logging steps and epoch ends only: one
        # all-reduce per step (the loss terms), none for control flow. A stop then waits up to
        # train.log_every steps.
        return not self.dist.enabled or epoch_done or self.step % self.tc.log_every == 0

    def _any_rank_on_device(self, flag: torch.Tensor) -> torch.Tensor:
        # Every rank skips the update if any rank's loss is non-finite: the all-reduced
        # gradients are the same everywhere, and so must the decision be.
        return self.dist.sum(flag).clamp(max=1.0)

    def save(self, valid: dict[str, float] | None = None, *, is_best: bool = False) -> Path | None:
        """Write a checkpoint (rank 0 only; other ranks return None)."""
        if not self.dist.is_main:
            return None
        return save_checkpoint(self, {"vocab_size": self.tokenizer.vocab_size, "valid": valid},
                               tokenizer=self.tokenizer, kind=TEXT.name, is_best=is_best)

    # -- one step ------------------------------------------------------------------------------

    def _collate(self, indices: list[int]):
        """The training sentences ``indices`` names, padded with bos and eos (on the CPU)."""
        tok = self.tokenizer
        return collate([self.corpus.ids["train"][i] for i in indices], bos_id=tok.bos_id,
                       eos_id=tok.eos_id, pad_id=tok.pad_id)

    def _random_batch(self, generator: torch.Generator) -> Batch:
        """``batch_size`` training sentences drawn at random with ``generator``, on the device.
        The aggressive remedy's inner steps train on these."""
        picks = torch.randint(len(self.corpus.ids["train"]), (self.tc.batch_size,),
                              generator=generator, device=generator.device).tolist()
        return self._collate(picks).to(self.device)

    def batches(self, epoch: int) -> list[list[int]]:
        """The epoch's batches of training-sentence indices (:class:`BucketBatchSampler`)."""
        return self.sampler.batches(epoch)

    def train_batch(self, batch: list[int]) -> tuple[LossTerms, int]:
        """Collate the sentences ``batch`` indexes, move them to the device and train on them.
        Returns the loss terms and the batch's target tokens (EOS included), counted on the
        host: the step never waits for the device (tests/test_sync.py)."""
        padded = self._collate(batch)
        if self.device.type == "cuda":  # page-locked memory: asynchronous copies
            padded = padded.pin_memory()
        seen = self._encoder_inputs(padded.ids, padded.host_lengths)
        padded = padded.to(self.device, non_blocking=True)
        terms = self.train_step(padded.ids, padded.lengths, host_lengths=padded.host_lengths,
                                encoder_inputs=seen)
        return terms, padded.n_tokens

    def _encoder_inputs(self, ids: torch.Tensor, host_lengths: Sequence[int]
                        ) -> EncoderInputs | None:
        """What the encoder reads under ``train.word_deletion`` (None when it is off): the
        (B, T + 1) batch's words with some deleted, drawn on the host from a generator seeded by
        (seed, step), so a resumed run deletes the same words. Returns (B, T') tokens on the
        device, (B,) lengths on the device and the lengths as ints."""
        if self.tc.word_deletion <= 0:
            return None
        generator = torch.Generator().manual_seed(
            self.tc.seed * WORD_DELETION_SEED_STRIDE + self.step)
        tokens, lengths = word_deletion(
            ids[:, 1:].cpu(), list(host_lengths), self.tc.word_deletion,
            pad_id=self.tokenizer.pad_id, generator=generator,
        )  # (B, T'), B ints
        return (tokens.to(self.device, non_blocking=True),
                torch.tensor(lengths).to(self.device, non_blocking=True), lengths)

    def train_step(self, ids: torch.Tensor, lengths: torch.Tensor, *,
                   host_lengths: Sequence[int] | None = None,
                   encoder_inputs: EncoderInputs | None = None,
                   ) -> LossTerms:
        """One optimiser step on a batch. ids: (B, T + 1); lengths: (B,); host_lengths: the
        lengths as Python ints (``Batch.host_lengths``), read from ``lengths`` when not given
        (one wait on a GPU). With them the step never waits for the device: the non-finite
        test stays there too (:meth:`guarded_step`).

        In a distributed job every rank passes the whole global batch: the noise is drawn for
        all B rows, then each rank trains on its own rows (:mod:`.rank_rows`), and
        the returned terms are global-batch averages.
        """
        if host_lengths is None:
            host_lengths = lengths.tolist()
        if encoder_inputs is None:  # a direct call: draw the deletions here (off: None)
            encoder_inputs = self._encoder_inputs(ids, host_lengths)
        self.remedies.on_step_start(self.step)
        self.model.train()
        decoder_inputs = word_dropout(
            ids[:, :-1], lengths, self.tc.word_dropout, unk_id=self.tokenizer.unk_id,
            generator=self.generator,
        )  # (B, T)
        eps = None
        if self.model.is_vae:  # drawn here, after word dropout, in the generator's usual order
            eps = torch.randn(len(lengths), self.model.latent_dim, generator=self.generator,
                              device=ids.device)  # (B, Z)
        global_rows = len(lengths)
        if self.dist.enabled:
            ids, decoder_inputs, lengths, host_lengths, eps, encoder_inputs = this_ranks_rows(
                StepRows(ids, decoder_inputs, lengths, host_lengths, eps, encoder_inputs),
                self.dist)
        with autocast(self.device, self.amp_dtype):
            out = self.forward_model(ids, lengths, decoder_inputs=decoder_inputs, eps=eps,
                                     host_lengths=host_lengths, encoder_inputs=encoder_inputs)
        rec = reconstruction_nll(out.logits, out.targets, lengths)  # (b,)
        kl_dim = None  # the LM baseline has no posterior
        if out.mu is not None:
            mu, logvar, _ = out.latent()  # (b, Z) each
            kl_dim = kl_standard_normal(mu.float(), logvar.float())
        terms = vae_objective(
            rec, kl_dim, kl_weight=self.remedies.kl_weight(self.step),
            free_bits=self.remedies.free_bits(), free_bits_mode=self.tc.free_bits_mode,
        )
        loss = terms.loss
        if self.dist.enabled:
            # DDP averages gradients over ranks; weighting each rank's mean by its share of the
            # rows makes that average the gradient of the global-batch mean.
            share = len(lengths) * self.dist.world_size / global_rows
            loss = loss * share
            terms = global_terms(terms, len(lengths) / global_rows, self.dist)
        # The true KL, of the global batch under DDP: every rank's controller sees the same.
        self.remedies.observe_kl(terms.kl)
        # Under DDP the test reads the global loss: one all-reduce per step, for the terms.
        self.guarded_step(loss, before_step=self.remedies.mask_gradients,
                          global_loss=terms.loss if self.dist.enabled else None)
        return terms

    def validate(self) -> dict[str, float]:
        return evaluate_elbo(
            self.model, self.valid_ids, self.tokenizer,
            batch_size=max(self.tc.batch_size, 64), device=self.device,
            seed=self.tc.seed + VALIDATION_SEED_OFFSET,
            with_mutual_information=self.remedies.wants_mutual_information,
        )

    # -- the loop's hooks ----------------------------------------------------------------------

    def start_message(self) -> str:
        return (
            f"training {self.config.model.model_type} on {self.device} "
            f"({sum(p.numel() for p in self.model.parameters()):,} parameters) -> {self.run_dir}"
        )

    def train_metrics(self, terms: LossTerms, per_second: float) -> dict[str, Any]:
        # Logged steps only: one read of the device for the four figures (five with a KL
        # controller's weight, a device tensor).
        figures = [terms.loss.detach(), terms.neg_elbo, terms.reconstruction, terms.kl]
        if isinstance(terms.kl_weight, torch.Tensor):
            figures.append(terms.kl_weight)
        loss, neg_elbo, rec, kl, *weight = torch.stack(figures).float().tolist()
        return {
            "loss": loss, "neg_elbo": neg_elbo, "reconstruction": rec, "kl": kl,
            "kl_weight": weight[0] if weight else terms.kl_weight,
            "lr": self.optimizer.param_groups[0]["lr"],
            "tokens_per_s": per_second, "skipped_batches": self.skipped_batches,
        }

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{row['loss']:.1f}", "kl": f"{row['kl']:.2f}",
                "klw": f"{row['kl_weight']:.2f}", "tok_s": f"{row['tokens_per_s']:.0f}"}

    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float]:
        """Validate; keep ``best``; at epoch ends also drive the LR plateau and early stopping."""
        valid = self.validate()
        self.remedies.on_validation(valid, self.step)
        self._write_metrics({"split": "valid", "step": self.step, "epoch": self.epoch, **valid})
        # While pretraining as an autoencoder the -ELBO says nothing about the final model: it
        # neither picks `best` nor drives the LR plateau and early stopping.
        score = self.selection_score(valid)
        improved = score is not None and self._validation_improves(
            score, self.best_neg_elbo, end_of_epoch=end_of_epoch
        )
        if improved and score is not None:
            self.best_neg_elbo = score
        self.log(
            f"step {self.step} valid: -ELBO {valid['neg_elbo']:.2f} = rec {valid['reconstruction']:.2f}"
            f" + KL {valid['kl']:.2f} nats/sentence, PPL<= {valid['ppl_bound']:.2f}, "
            f"active units {valid['active_units']}" + ("  (best)" if improved else "")
        )
        return valid

    def selection_score(self, valid: dict[str, float]) -> float | None:
        # While pretraining as an autoencoder the -ELBO says nothing about the final model.
        if self.remedies.pretraining:
            return None
        # Under a KL set point the controller holds the rate, which climbs to its target over
        # the first epochs: the -ELBO would pick the early, low-rate model and stop the run
        # while reconstruction still improves. Distortion is what is left to choose on.
        if self.tc.kl.kind == "target" and self.model.is_vae:
            return valid["reconstruction"]
        return valid["neg_elbo"]

    def result(self, stopped: str, valid: dict[str, float], seconds: float) -> TrainResult:
        return TrainResult(self.run_dir, self.step, self.epoch, stopped, valid,
                           self.best_neg_elbo, seconds,
                           notes=self.budget_notes(stopped) + self._annealing_notes(),
                           by_reconstruction=self.tc.kl.kind == "target" and self.model.is_vae)


def _silent(message: str) -> None:
    """The log of ranks other than 0."""


def train(
    config: Config,
    *,
    train_sentences: Iterable[str] | Any | None = None,
    valid_sentences: Iterable[str] | Any | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    meta_extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a model from a config, or resume the run in ``config.train.out_dir``.

    On resume the run's saved config is used, except for the budget (``train.epochs``,
    ``max_steps``, ``max_minutes``) and ``train.device``, which come from ``config``; the
    tokenizer, weights, optimiser, schedules, RNG states and data position come from
    ``out_dir/last``.

    Args:
        train_sentences, valid_sentences: sentences given directly instead of ``config.data``:
            lists of strings, or ``datasets.Dataset`` objects whose ``data.text_column`` holds
            them. They are written to ``out_dir/data/{train,valid}.txt`` and the run is a
            ``text`` run over those files, so its checkpoint reads like any other. Without
            ``valid_sentences``, ``data.valid_fraction`` (default 0.1 here) is held out.
        meta_extra: entries for every checkpoint's meta.json (the CLI records the command
            line that trained the run, for the model card).
    """
    if config.labels.factors:
        raise ConfigError("this config has labels (labels.factors): train it with "
                          "textvae.text.training.train_labelled.train_labelled, or `textvae train`, which picks it")
    if not resume:  # a resumed run keeps its saved tokenizer and weights
        config = with_warm_start_tokenizer(config)
    config, checkpoint = open_run(config, resume=resume, kind=TEXT)
    if checkpoint is None:
        if train_sentences is not None:
            config = given_sentences(config, train_sentences, valid_sentences)
        config = replace(config, data=with_absolute_paths(config.data))
    device = resolve_device(config.train.device)
    check_rnn_precision(config.train.amp, device, has_rnn=config.model.uses_rnn())  # oneDNN's bf16 RNNs
    dist = distributed.from_environment(device.type)
    try:  # the process group this process set up is destroyed however training ends
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
        if not dist.is_main:
            log, progress = _silent, False
        dist.barrier()  # every rank has checked the run directory before rank 0 writes to it
        torch.manual_seed(config.train.seed)
        corpus = build_corpus(
            config.data, tokenizer=checkpoint.tokenizer if checkpoint else None,
            splits=("train", "valid"), log=log,
        )
        model = build_model(config.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
        starting_weights(model, checkpoint, config.train.init_from, log)
        model.to(device)
        trainer = Trainer(config, corpus, model, device, progress=progress, log=log, dist=dist)
        trainer.meta_extra = dict(meta_extra or {})
        resume_trainer(trainer, checkpoint, log)
        result = trainer.run()
        log(summary(result))
        return result
    finally:
        dist.close()
