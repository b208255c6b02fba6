"""Training a labelled sentence model: the conditional VAE, M2 and the supervised-only baseline.

    config (labels section) -> labelled corpus -> LabelledSentenceVAE -> LabelledTrainer.run()

The loop, checkpoints, resume, KL annealing and word dropout are the text trainer's
(:class:`~textvae.text.training.train.Trainer`); only one step and the validation pass differ, by
``labels.mode``:

- ``conditional``: every sentence labelled; the text objective with y fed to encoder and decoder.
- ``semi_supervised`` (M2): each step takes the sampler's batch (its unlabelled sentences) and a
  batch of labelled sentences drawn at random with the run's seeded generator (with 100 labels
  among 10,000 a plain batch would almost never hold one); the loss is
  :func:`textvae.core.semisupervised.semi_supervised_loss`.
- ``classifier``: the supervised-only baseline, M2's classifier trained on the labelled sentences
  alone (cross-entropy).

``best`` is chosen by the validation -ELBO (conditional) or the validation classification error
(M2 and the baseline: the same rule for both, so their accuracies compare fairly; the NLL would
pick a near-untrained baseline, whose NLL is lowest before it grows confident).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from textvae.core.device import autocast, check_rnn_precision, resolve_device
from textvae.core.distributed import refuse_data_parallel
from textvae.core.errors import ConfigError
from textvae.core.files import write_json
from textvae.core.gaussian import kl_standard_normal
from textvae.core.label_sets import UNLABELLED, LabelSet
from textvae.core.objectives import LossTerms, reconstruction_nll, vae_objective, word_dropout
from textvae.core.semisupervised import (
    class_nll,
    labelled_neg_elbo,
    semi_supervised_loss,
    unlabelled_neg_elbo,
)
from textvae.core.training.loop import VALIDATION_SEED_OFFSET
from textvae.core.training.run_dir import open_run, resume_trainer
from textvae.text.models.label_posterior import class_probabilities
from textvae.text.models.labelled import LabelledSentenceVAE, build_labelled_model
from textvae.text.run.checkpoint import TEXT, starting_weights
from textvae.text.run.config import Config, with_warm_start_tokenizer
from textvae.text.run.corpus import with_absolute_paths
from textvae.text.run.labelled_corpus import LabelledCorpus, build_labelled_corpus
from textvae.text.training.result import TrainResult, summary
from textvae.text.training.train import Trainer
from textvae.text.training.validate import evaluate_elbo

LABELLED_INDICES_FILE = "labelled_indices.json"


class LabelledTrainer(Trainer):
    """The text trainer with labels (module docstring). ``data`` holds the labelled splits."""

    model: LabelledSentenceVAE  # a SentenceModel with labels, a classifier and its label sizes

    def __init__(self, config: Config, data: LabelledCorpus, model: LabelledSentenceVAE,
                 device: torch.device, *, progress: bool = True, log: Callable[[str], None] = print) -> None:
        super().__init__(config, data.corpus, model, device, progress=progress, log=log)
        self.data = data
        self.mode = config.labels.mode
        train_labels = data.labels["train"]
        self.train_labels = torch.tensor(train_labels, dtype=torch.long)  # (N, F), on the host
        self.labelled_rows = [i for i, row in enumerate(train_labels) if UNLABELLED not in row]
        self.n_labelled = len(self.labelled_rows)
        self.n_unlabelled = len(train_labels) - self.n_labelled
        self.meta_extra["labels"] = data.label_set.to_dict()

    # -- one step ------------------------------------------------------------------------------

    def _padded(self, indices: list[int]):
        padded = self._collate(indices)
        return padded.to(self.device, non_blocking=True)

    def _labels(self, indices: list[int]) -> torch.Tensor:
        return self.train_labels[indices].to(self.device, non_blocking=True)  # (B, F)

    def _labelled_draw(self) -> list[int]:
        """A batch of labelled sentences drawn with the run's seeded generator (M2)."""
        size = min(self.tc.batch_size, self.n_labelled)
        picks = torch.randint(self.n_labelled, (size,), generator=self.generator,
                              device=self.generator.device).tolist()
        return [self.labelled_rows[p] for p in picks]

    def _bound(self, indices: list[int], labels: torch.Tensor):
        """(B,) reconstruction NLL and (B, Z) KL of the sentences ``indices`` given ``labels``
        (B', F), each sentence repeated B'/B times in a row (the unlabelled sum over classes)."""
        batch = self._padded(indices)
        inputs = word_dropout(batch.ids[:, :-1], batch.lengths, self.tc.word_dropout,
                              unk_id=self.tokenizer.unk_id, generator=self.generator)  # (B, T)
        repeat = len(labels) // len(indices)
        ids, lengths = batch.ids.repeat_interleave(repeat, 0), batch.lengths.repeat_interleave(repeat)
        host = [n for n in batch.host_lengths for _ in range(repeat)]
        eps = torch.randn(len(lengths), self.model.latent_dim, generator=self.generator, device=ids.device)
        with autocast(self.device, self.amp_dtype):
            out = self.forward_model(ids, lengths, labels, decoder_inputs=inputs.repeat_interleave(repeat, 0),
                                     eps=eps, host_lengths=host)
        rec = reconstruction_nll(out.logits, out.targets, lengths)  # (B',)
        mu, logvar, _ = out.latent()  # (B', Z) each
        return rec, kl_standard_normal(mu.float(), logvar.float()), batch

    def _classify(self, batch) -> torch.Tensor:
        """(B, C) float32 logits of q(y | x) for a padded batch."""
        with autocast(self.device, self.amp_dtype):
            return self.model.classify(batch.ids[:, 1:], batch.lengths, batch.host_lengths)

    def train_batch(self, batch: list[int]) -> tuple[LossTerms, int]:
        self.remedies.on_step_start(self.step)
        self.model.train()
        weight = self.remedies.kl_weight(self.step)
        if self.mode == "classifier":
            padded = self._padded(batch)
            logits = self._classify(padded)
            loss = class_nll(logits, self._labels(batch)[:, 0]).mean()
            zero = loss.detach() * 0
            terms, tokens = LossTerms(loss, zero, zero, zero, weight), padded.n_tokens
        elif self.mode == "conditional":
            rec, kl_dim, padded = self._bound(batch, self._labels(batch))
            terms = vae_objective(rec, kl_dim, kl_weight=weight, free_bits=self.remedies.free_bits(),
                                  free_bits_mode=self.tc.free_bits_mode)
            tokens = padded.n_tokens
        else:
            terms, tokens = self._m2_terms(batch, weight)
        self.guarded_step(terms.loss)
        return terms, tokens

    def _m2_terms(self, batch: list[int], weight: float | torch.Tensor) -> tuple[LossTerms, int]:
        """M2's loss on the batch's unlabelled sentences and a drawn labelled batch."""
        sizes = self.model.label_sizes
        labelled = self._labelled_draw()
        y = self._labels(labelled)  # (B_l, 1)
        rec, kl_dim, padded_l = self._bound(labelled, y)
        neg_l = labelled_neg_elbo(rec, weight * kl_dim.sum(1), sizes)  # (B_l,)
        logits_l = self._classify(padded_l)
        tokens = padded_l.n_tokens
        unlabelled = [i for i in batch if UNLABELLED in self.train_labels[i].tolist()]
        neg_u = None
        if unlabelled:
            classes = sizes[0]
            every = torch.arange(classes, device=self.device).repeat(len(unlabelled)).unsqueeze(1)  # (B_u*C, 1)
            rec_u, kl_u, padded_u = self._bound(unlabelled, every)
            per_class = labelled_neg_elbo(rec_u, weight * kl_u.sum(1), sizes).view(len(unlabelled), classes)
            logits_u = self._classify(padded_u)
            neg_u = unlabelled_neg_elbo(per_class, logits_u)  # (B_u,)
            tokens += padded_u.n_tokens
        loss = semi_supervised_loss(neg_l, neg_u, class_nll(logits_l, y[:, 0]), n_labelled=self.n_labelled,
                                    n_unlabelled=self.n_unlabelled, alpha_scale=self.config.labels.alpha_scale)
        kl = kl_dim.sum(1).mean().detach()
        return LossTerms(loss, (rec.mean() + kl).detach(), rec.mean().detach(), kl, weight), tokens

    # -- validation ----------------------------------------------------------------------------

    def validate(self) -> dict[str, float]:
        ids, labels = self.corpus.ids["valid"], self.data.labels["valid"]
        valid: dict[str, float] = {"sentences": len(ids)}
        if self.mode != "classifier":  # the baseline trains no VAE: its bound says nothing
            valid = evaluate_elbo(self.model, ids, self.tokenizer, batch_size=max(self.tc.batch_size, 64),
                                  device=self.device, seed=self.tc.seed + VALIDATION_SEED_OFFSET, labels=labels)
        if self.model.classifier is not None:
            probs = class_probabilities(self.model, ids, self.tokenizer, device=self.device)  # (S, C)
            truth = torch.tensor([row[self.model.classified_factor] for row in labels])
            valid["accuracy"] = float((probs.argmax(1) == truth).float().mean())
            valid["class_nll"] = float(-probs.clamp_min(1e-12).log().gather(1, truth[:, None]).mean())
            valid["error"] = 1.0 - valid["accuracy"]
        return valid

    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float]:
        if self.mode != "classifier":
            valid = super()._scheduled_validation(end_of_epoch=end_of_epoch)
            improved = self._improved
        else:  # no bound to log or to watch for collapse: the classifier's figures only
            valid = self.validate()
            self._write_metrics({"split": "valid", "step": self.step, "epoch": self.epoch, **valid})
            improved = self._validation_improves(valid["error"], self.best_neg_elbo, end_of_epoch=end_of_epoch)
            if improved:
                self.best_neg_elbo = valid["error"]
        if "accuracy" in valid:
            self.log(f"step {self.step} valid: accuracy {valid['accuracy']:.4f}, classification NLL "
                     f"{valid['class_nll']:.4f}" + ("  (best)" if improved and self.mode != "conditional" else ""))
        return valid

    def selection_score(self, valid: dict[str, float]) -> float | None:
        return valid["error"] if "error" in valid else super().selection_score(valid)

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        if self.mode == "classifier":
            return {"loss": f"{row['loss']:.3f}"}
        return super().progress_postfix(row)


def _check_labelled_config(config: Config) -> None:
    tc = config.train
    if tc.aggressive or tc.pretrain_ae_steps:
        raise ConfigError("train.aggressive and train.pretrain_ae_steps are not available for labelled runs")
    if tc.valid_sentences is not None:
        raise ConfigError("train.valid_sentences is the unlabelled text VAE's; a labelled run "
                          "validates on its whole validation split")
    if tc.word_deletion > 0:
        raise ConfigError("train.word_deletion is the unlabelled text VAE's; set it to 0 for a "
                          "labelled run")
    if tc.kl.kind == "target":  # M2's KL is summed over classes: no one KL to hold
        raise ConfigError("train.kl.kind target is the unlabelled text VAE's; a labelled run takes "
                          "constant, linear, logistic or cyclical")
    if config.labels.mode != "conditional" and tc.free_bits > 0:
        raise ConfigError("train.free_bits applies to labels.mode conditional only (M2 sums bounds over classes)")
    if config.model.model_type != "vae":
        raise ConfigError("a labelled run needs model.model_type 'vae'")


def train_labelled(config: Config, *, resume: bool = False, progress: bool = True,
                   log: Callable[[str], None] = print, meta_extra: dict[str, Any] | None = None) -> TrainResult:
    """Train (or resume) a labelled run from a config with a ``labels`` section
    (:func:`textvae.text.training.train.train` hands such configs here)."""
    _check_labelled_config(config)
    refuse_data_parallel("the labelled text trainer (a config with labels.factors)")
    if not resume:  # a resumed run keeps its saved tokenizer and weights
        config = with_warm_start_tokenizer(config)
    config, checkpoint = open_run(config, resume=resume, kind=TEXT)
    if checkpoint is None:
        config = replace(config, data=with_absolute_paths(config.data))
    device = resolve_device(config.train.device)
    separate_rnn = config.labels.mode != "conditional" and config.labels.classifier == "separate"
    check_rnn_precision(config.train.amp, device,  # before any work: oneDNN's bf16 RNNs
                        has_rnn=config.model.uses_rnn() or separate_rnn)
    torch.manual_seed(config.train.seed)
    label_set = LabelSet.from_dict(checkpoint.meta["labels"]) if checkpoint else None
    data = build_labelled_corpus(config.data, config.labels, tokenizer=checkpoint.tokenizer if checkpoint else None,
                                 label_set=label_set, log=log)
    if config.labels.mode == "classifier":  # the baseline sees the labelled sentences only
        data = _labelled_only(data)
    model = build_labelled_model(config.model, data.tokenizer.vocab_size, data.tokenizer.pad_id,
                                 data.label_set.sizes, label_embed_dim=config.labels.embed_dim,
                                 with_classifier=config.labels.mode != "conditional",
                                 classifier=config.labels.classifier)
    starting_weights(model, checkpoint, config.train.init_from, log)
    model.to(device)
    trainer = LabelledTrainer(config, data, model, device, progress=progress, log=log)
    trainer.meta_extra.update(meta_extra or {})
    if data.drawn is not None and checkpoint is None:
        write_json(Path(config.train.out_dir) / LABELLED_INDICES_FILE,
                   {"labels_per_class": config.labels.labels_per_class, "label_seed": config.labels.label_seed,
                    "indices": data.drawn}, make_parents=True)
    resume_trainer(trainer, checkpoint, log)
    result = trainer.run()
    log(summary(result))
    return result


def _labelled_only(data: LabelledCorpus) -> LabelledCorpus:
    keep = [i for i, row in enumerate(data.labels["train"]) if UNLABELLED not in row]
    data.corpus.ids["train"] = [data.corpus.ids["train"][i] for i in keep]
    data.corpus.sentences["train"] = [data.corpus.sentences["train"][i] for i in keep]
    data.labels["train"] = [data.labels["train"][i] for i in keep]
    return data
