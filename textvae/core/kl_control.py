"""The KL weight as a feedback controller: ``train.kl.kind: target`` holds the KL at a set point.

Shao et al. 2020, "ControlVAE: Controllable Variational Autoencoder" (ICML), Algorithm 1: a PI
controller sets the KL weight (beta) of each step from the KL the model had. With
e(t) = KL_target - KL^(t), where KL^ is an exponential moving average of the batch KL:

    P(t) = Kp / (1 + exp(e(t)))                 in (0, Kp); near Kp while the KL is above target
    I(t) = I(t-1) - Ki e(t)                     integrated only while the weight stays in bounds
    beta(t) = clip(P(t) + I(t) + min_weight, min_weight, max_weight)

So the weight rises while the KL is above its target (the KL costs more) and falls while it is
below. The anti-windup: the integral integrates only while the weight is inside its bounds, and
stops where P + I + min_weight meets one (it is clamped to [-P, max_weight - min_weight - P]).
A run whose weight sits at a bound for a long time (the KL far from a target it cannot reach
yet) then leaves it as soon as the error turns, instead of first unwinding an integral that grew
all the while.

What it observes is the true KL, nats per sentence averaged over the batch (the whole global
batch in a distributed job, so every rank computes the same weight), not the free-bits-clamped
term the loss uses. Its state (the average, the integral, the weight) stays on the training
device as () float32 tensors and the weight is handed to the objective as such a tensor: no step
waits for the device to learn it (tests/test_sync.py). Float32, not float64: MPS has no float64.

The other kinds of ``train.kl.kind`` are pure functions of the step
(:mod:`textvae.core.objectives`); :class:`KLWeighting` is the contract both meet, so the trainer
asks every schedule the same three things.

Shapes: every tensor here is a () scalar.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from textvae.core.loop_config import KLScheduleConfig

# The KL^ the error is taken from: each step moves it a tenth of the way to the batch's KL, an
# average over about the last ten batches (length-bucketed batches differ in KL by a tenth or
# more). On the grammar corpus (tests/tiny.py's sizes, 400 steps, 12 runs, Kp 0.1, Ki 0.001)
# decays of 0.8 and 0.95 did no better: mean validation KL errors of 8% and 7% against 6.5%.
KL_EMA_DECAY = 0.9


class KLWeighting(Protocol):
    """A KL schedule as the trainer drives it: the weight of the step about to train, the KL it
    had (nats per sentence, a () tensor on the training device), and state for the checkpoint.
    The pure schedules observe nothing and keep no state."""

    def weight(self, step: int) -> float | Tensor:
        """The KL weight of ``step`` (steps counted from the start of the schedule)."""
        ...

    def observe(self, kl: Tensor) -> None:
        """The KL of the step just trained, without reading it on the host."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class KLController:
    """ControlVAE's PI controller on the KL weight (module docstring).

    Args:
        target: the KL set point, nats per sentence (> 0).
        kp, ki: the proportional and integral gains (>= 0).
        min_weight, max_weight: the bounds of the weight; it starts at ``min_weight``.
        device: where the state lives (the training device).
        ema_decay: the moving average's decay (:data:`KL_EMA_DECAY`).
    """

    _STATE = ("kl_average", "integral", "current", "observed")

    def __init__(self, *, target: float, kp: float, ki: float, min_weight: float,
                 max_weight: float, device: torch.device | str = "cpu",
                 ema_decay: float = KL_EMA_DECAY) -> None:
        self.target, self.kp, self.ki, self.ema_decay = target, kp, ki, ema_decay
        self.min_weight, self.max_weight = min_weight, max_weight
        zero = torch.zeros((), dtype=torch.float32, device=device)
        self.kl_average = zero  # KL^, meaningless until `observed`
        self.integral = zero  # I(t)
        self.current = zero + min_weight  # the weight of the next step
        self.observed = zero  # 1 once a finite KL was seen: the first one starts the average

    @classmethod
    def from_config(cls, schedule: KLScheduleConfig, device: torch.device | str) -> KLController:
        if schedule.target is None:  # the config refuses kind target without one
            raise ValueError("train.kl.target is not set")
        return cls(target=schedule.target, kp=schedule.kp, ki=schedule.ki,
                   min_weight=schedule.min_weight, max_weight=schedule.max_weight, device=device)

    def weight(self, step: int) -> Tensor:
        """The weight the last observation set (``min_weight`` before any); the step does not
        enter. A () float32 tensor on the device, never read here."""
        return self.current

    def observe(self, kl: Tensor) -> None:
        """One controller step on the KL of the step just trained: the average, the error, the P
        and I terms and the next weight, all on the device. A non-finite KL (a batch that
        ``train.nonfinite: skip`` drops) changes nothing. New tensors replace the old ones, so the
        weight a step's loss multiplied by is never modified under its backward pass."""
        kl = kl.detach().to(self.current.device, torch.float32)
        seen = self.observed > 0
        average = torch.where(seen, self.ema_decay * self.kl_average + (1 - self.ema_decay) * kl, kl)
        error = self.target - average
        proportional = self.kp * torch.sigmoid(-error)  # Kp / (1 + exp(e)), without overflow
        # Anti-windup: the integral stops where P + I + min_weight meets a bound.
        integral = torch.minimum(torch.maximum(self.integral - self.ki * error, -proportional),
                                 self.max_weight - self.min_weight - proportional)
        weight = (proportional + integral + self.min_weight).clamp(self.min_weight, self.max_weight)
        finite = torch.isfinite(kl)
        self.kl_average = torch.where(finite, average, self.kl_average)
        self.integral = torch.where(finite, integral, self.integral)
        self.current = torch.where(finite, weight, self.current)
        self.observed = torch.where(finite, torch.ones_like(self.observed), self.observed)

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).clone() for name in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state ``state_dict`` saved, onto this controller's device (a checkpoint
        written on a GPU resumes on the CPU and back)."""
        device = self.current.device
        for name in self._STATE:
            setattr(self, name, state[name].detach().to(device, torch.float32).clone())
