"""Remedies for posterior collapse beyond Bowman et al.'s annealing and word dropout, and a
warning when collapse happens.

- **Aggressive inference-network training** (He et al. 2019, "Lagging Inference Networks and
  Posterior Collapse in Variational Autoencoders"): before each decoder update, the encoder
  alone is updated on fresh training batches until its loss stops improving (at most
  ``train.aggressive_max_inner`` steps); the outer step then updates the decoder only. The mode
  switches itself off, for good, at the first validation where the mutual information I_q(x; z)
  on the validation set does not rise above its best so far. Inner steps run in float32 even
  under mixed precision (they are a small share of the work).
- **Autoencoder pretraining, decoder reset, free bits** (Li et al. 2019, "A Surprisingly
  Effective Fix for Deep Latent Variable Modeling of Text"): the first ``train.pretrain_ae_steps``
  steps train with KL weight 0 (a plain autoencoder, no free bits); then the decoder is
  reinitialised and training continues with the configured KL schedule, restarted at the
  switch, and the configured ``train.free_bits``. Validations during pretraining neither pick
  the ``best`` checkpoint nor drive the LR plateau or early stopping.
- **Collapse warning**: logged once when, for ``train.collapse_patience`` validations in a row,
  the validation KL is below :data:`COLLAPSE_KL_NATS` (0.1) nats per sentence, or no latent unit
  is active while the KL is below :data:`COLLAPSE_KL_NO_UNITS_NATS` (1) nat. Zero active units
  alone is not enough: small and early models often have KL of several nats with every
  Var_x(mu_d) under 0.01 (information in small-scale means, posterior variances shrunk), which
  is not q(z|x) = p(z).

Which parameters are "encoder" and "decoder": textvae shares one embedding table between the
encoder and the decoder. The embedding counts as the decoder's (it is most of the decoder's
input), so inner encoder-only steps leave every decoder parameter unchanged; the decoder reset
keeps it, because resetting it would also wipe out the pretrained encoder's input. With
``model.tie_embeddings`` the output layer's weight *is* the embedding: the reset keeps it too
(weights and optimiser state), and reinitialises only the output bias.

A :class:`Remedies` object is built from explicit collaborators (the model, its optimiser, the
``train`` config, a log and a source of random training batches) and called by the text trainer
at three points: the start of each training step, between backward and the optimiser step, and
after each validation (whose figures carry the mutual information when
:attr:`Remedies.wants_mutual_information`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from textvae.core.errors import ConfigError
from textvae.core.gaussian import kl_standard_normal
from textvae.core.objectives import kl_weighting, reconstruction_nll, vae_objective, word_dropout
from textvae.text.data.batching import Batch
from textvae.text.models.contracts import ResettableModule, SentenceModel
from textvae.text.run.config import TrainConfig

# Draws a random training batch with the given generator, on the device.
BatchSource = Callable[[torch.Generator], Batch]

# Validation KL (nats per sentence) below which the posterior counts as collapsed, and below
# which it does when no unit is active.
COLLAPSE_KL_NATS = 0.1
COLLAPSE_KL_NO_UNITS_NATS = 1.0
INNER_WINDOW = 10  # inner steps per window; the encoder loss "stops improving" when a window's
#                    mean is not below the previous window's mean
RESET_SEED_OFFSET = 3_000_017


def encoder_converged(losses: list[float], window: int = INNER_WINDOW) -> bool:
    """Whether the inner encoder loss has stopped improving: after each full ``window`` of
    steps, the mean loss of that window is not below the mean of the window before it.

    Args:
        losses: the inner-loop losses so far, in order.
    """
    if len(losses) < 2 * window or len(losses) % window:
        return False
    last = sum(losses[-window:]) / window
    before = sum(losses[-2 * window : -window]) / window
    return last >= before


def encoder_parameters(model: SentenceModel) -> list[nn.Parameter]:
    """The inference network's own parameters (:meth:`SentenceModel.encoder_modules`: for the
    sentence VAE the encoder RNN and the heads for mu and logvar, not the shared embedding)."""
    return [p for m in model.encoder_modules() for p in m.parameters()]


def decoder_modules(model: SentenceModel) -> list[ResettableModule]:
    """The generative network's own modules, reset after autoencoder pretraining
    (:meth:`SentenceModel.decoder_modules`: for the sentence VAE z -> initial state, the decoder
    RNN and the output layer, not the shared embedding)."""
    return list(model.decoder_modules())


def reset_decoder(model: SentenceModel, optimizer: torch.optim.Optimizer, seed: int) -> None:
    """Reinitialise the decoder modules in place (their default init) and drop their optimiser
    state (stale Adam moments would steer the fresh weights).

    The init draws from torch's global generator inside a fork seeded by ``seed``: the new
    weights are then the same on every rank of a distributed job and in a resumed run, and the
    training streams do not move.

    A parameter the decoder modules share with the rest of the model (the output weight, which
    is the embedding's under ``tie_embeddings``) is not the decoder's own: it keeps its
    pretrained values, its padding row of zeros and its optimiser state."""
    inside = {id(m) for module in decoder_modules(model) for m in module.modules()}
    shared = {id(p) for m in model.modules() if id(m) not in inside
              for p in m.parameters(recurse=False)}
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=cuda):  # CUDA weights draw from the CUDA generator
        torch.manual_seed(seed)  # seeds the CPU and every CUDA generator
        for module in decoder_modules(model):
            kept = [(p, p.detach().clone()) for p in module.parameters() if id(p) in shared]
            module.reset_parameters()
            with torch.no_grad():
                for p, value in kept:
                    p.copy_(value)
    for module in decoder_modules(model):
        for p in module.parameters():
            if id(p) not in shared:
                optimizer.state.pop(p, None)


class Remedies:
    """The collapse remedies and warning of one run (see the module docstring).

    Args:
        model: the sentence model being trained.
        optimizer: its optimiser (the inner loop steps it; the decoder reset drops state in it).
        config: the run's ``train`` section.
        log: where one-line messages go.
        random_batch: draws a random training batch (for the inner encoder steps).
        generator: the training generator (word dropout and noise of the inner steps).
        unk_id: the tokenizer's unknown id (word dropout).
        device: the training device (a KL controller keeps its state there).
        distributed: whether this is one rank of a distributed job.
    """

    def __init__(
        self,
        model: SentenceModel,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        *,
        log: Callable[[str], None],
        random_batch: BatchSource,
        generator: torch.Generator,
        unk_id: int,
        device: torch.device,
        distributed: bool = False,
    ) -> None:
        is_vae = model.is_vae
        if (config.aggressive or config.pretrain_ae_steps) and not is_vae:
            raise ConfigError(
                "train.aggressive and train.pretrain_ae_steps need a VAE; model.model_type is 'lm'"
            )
        if config.aggressive and distributed:
            # Inner encoder-only steps run on each rank's own batches, without the gradient
            # all-reduce, so the replicas would drift apart.
            raise ConfigError("train.aggressive is not supported in a distributed (torchrun) job")
        self.model, self.optimizer, self.tc, self.log = model, optimizer, config, log
        self.random_batch, self.generator, self.unk_id = random_batch, generator, unk_id
        self.aggressive = config.aggressive
        self.best_mi = -math.inf
        self.pretraining = bool(config.pretrain_ae_steps)
        self.collapsed_validations = 0
        self.warned = False
        self.inner_steps = 0  # encoder-only steps taken so far (for logs and tests)
        # train.kl: a pure schedule, or the KL set point's controller (textvae.core.kl_control).
        self.kl_schedule = kl_weighting(config.kl, device)
        self._encoder_ids = {id(p) for p in encoder_parameters(model)} if is_vae else set()

    # -- state (saved with the trainer's, so a resumed run continues the same phase) -----------

    def state_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in
                   ("aggressive", "best_mi", "pretraining", "collapsed_validations", "warned",
                    "inner_steps")},
                "kl_schedule": self.kl_schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        # Absent from checkpoints written before train.kl.kind target, whose schedules were
        # all pure (no state).
        self.kl_schedule.load_state_dict(state.pop("kl_schedule", {}))
        for name, value in state.items():
            setattr(self, name, value)

    # -- the objective's knobs -----------------------------------------------------------------

    def kl_weight(self, step: int) -> float | torch.Tensor:
        """The KL weight at ``step``: 0 while pretraining as an autoencoder, then the configured
        schedule counted from the end of pretraining (a KL controller's weight is a () device
        tensor)."""
        if self.pretraining:
            return 0.0
        return self.kl_schedule.weight(step - (self.tc.pretrain_ae_steps or 0))

    def observe_kl(self, kl: torch.Tensor) -> None:
        """The true KL (nats per sentence, a () tensor left on the device) of the step just
        trained, for a schedule that follows it; pretraining steps are not the schedule's."""
        if not self.pretraining:
            self.kl_schedule.observe(kl)

    def free_bits(self) -> float:
        return 0.0 if self.pretraining else self.tc.free_bits

    @property
    def wants_mutual_information(self) -> bool:
        """Whether the next validation must report ``mutual_information`` (aggressive mode
        switches itself off by it)."""
        return self.aggressive

    # -- hooks ---------------------------------------------------------------------------------

    def on_step_start(self, step: int) -> None:
        """Called before each training step (``step`` = steps done so far)."""
        tc = self.tc
        if self.pretraining and step >= (tc.pretrain_ae_steps or 0):  # pretraining: steps set
            self.pretraining = False
            reset_decoder(self.model, self.optimizer, tc.seed + RESET_SEED_OFFSET)
            self.log(
                f"step {step}: autoencoder pretraining done; decoder reinitialised, now training "
                f"with the KL schedule from step 0 and free bits {tc.free_bits}"
            )
        if self.aggressive:
            self._inner_loop(step)

    def mask_gradients(self) -> None:
        """Called between backward and the optimiser step: while aggressive, the outer step
        updates the decoder only (the encoder was just trained in the inner loop)."""
        if not self.aggressive:
            return
        for p in encoder_parameters(self.model):
            p.grad = None

    def on_validation(self, valid: dict[str, float], step: int) -> None:
        """Called after each scheduled validation at ``step`` with its figures (which hold
        ``mutual_information`` when :attr:`wants_mutual_information` was true)."""
        if not self.model.is_vae:
            return
        if self.aggressive:
            mi = valid["mutual_information"]
            if mi > self.best_mi:
                self.best_mi = mi
            else:
                self.aggressive = False
                self.log(f"step {step}: validation MI {mi:.3f} nats did not rise above "
                         f"{self.best_mi:.3f}; aggressive encoder training off "
                         f"({self.inner_steps} inner steps in all)")
        if not self.tc.collapse_warning or self.pretraining:
            return
        collapsed = valid["kl"] < COLLAPSE_KL_NATS or (
            valid["active_units"] == 0 and valid["kl"] < COLLAPSE_KL_NO_UNITS_NATS
        )
        self.collapsed_validations = self.collapsed_validations + 1 if collapsed else 0
        if self.collapsed_validations >= self.tc.collapse_patience and not self.warned:
            self.warned = True
            self.log(
                f"warning: posterior collapse: validation KL {valid['kl']:.3f} nats/sentence, "
                f"{valid['active_units']} active units for {self.collapsed_validations} "
                f"validations in a row (thresholds: KL < {COLLAPSE_KL_NATS}, or 0 active units "
                f"and KL < {COLLAPSE_KL_NO_UNITS_NATS}). "
                "Try train.word_dropout, train.free_bits, train.aggressive or "
                "train.pretrain_ae_steps."
            )

    # -- aggressive training -------------------------------------------------------------------

    def _inner_loop(self, step: int) -> int:
        """Encoder-only updates on random training batches until the loss stops improving
        (:func:`encoder_converged`) or ``aggressive_max_inner`` steps. Returns the steps taken."""
        model, tc = self.model, self.tc
        model.train()
        encoder = encoder_parameters(model)
        losses: list[float] = []
        while len(losses) < tc.aggressive_max_inner:
            ids, lengths, host_lengths = self.random_batch(self.generator)  # (B, T + 1), (B,)
            inputs = word_dropout(ids[:, :-1], lengths, tc.word_dropout,
                                  unk_id=self.unk_id, generator=self.generator)
            out = model(ids, lengths, decoder_inputs=inputs, generator=self.generator,
                        host_lengths=host_lengths)
            mu, logvar, _ = out.latent()  # (B, Z) each: a VAE (checked at construction)
            terms = vae_objective(
                reconstruction_nll(out.logits, out.targets, lengths),
                kl_standard_normal(mu.float(), logvar.float()),
                kl_weight=self.kl_weight(step), free_bits=self.free_bits(),
                free_bits_mode=tc.free_bits_mode,
            )
            self.optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            for p in model.parameters():
                if id(p) not in self._encoder_ids:
                    p.grad = None  # Adam skips parameters without a gradient
            if tc.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(encoder, tc.grad_clip)
            self.optimizer.step()
            losses.append(terms.loss.item())
            if encoder_converged(losses):
                break
        self.optimizer.zero_grad(set_to_none=True)
        self.inner_steps += len(losses)
        return len(losses)
