"""The training loop's settings, shared by every side: the ``train`` keys that
:class:`~textvae.core.training.loop.TrainerBase` reads (budget, optimiser, LR plateau, early stopping,
validation and checkpoint schedule, precision, the non-finite-loss policy) and the KL schedule.

Each side extends :class:`LoopTrainConfig` with what only its trainers read: text runs with word
dropout, free bits, bucketing, ``torch.compile`` and the collapse remedies
(:class:`textvae.text.run.config.TrainConfig`); image runs with their KL default
(:class:`textvae.image.run.config.ImageTrainConfig`). So a key a side's trainer does not read is not
in that side's config, and ``from_dict`` refuses it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from textvae.core.config_types import check_positive
from textvae.core.errors import ConfigError

# train.kl.kind: the schedules of textvae.core.objectives.KL_SCHEDULES (a test keeps the two equal).
KLKind = Literal["constant", "linear", "logistic", "cyclical", "target"]


@dataclass
class KLScheduleConfig:
    """The KL weight of each training step (see :mod:`textvae.core.objectives`).

    - ``constant``: ``max_weight`` throughout;
    - ``linear``: 0 rising to ``max_weight`` over ``warmup_steps``;
    - ``logistic`` (Bowman et al. 2016): ``max_weight / (1 + exp(-k (step - x0)))``;
    - ``cyclical`` (Fu et al. 2019): ``n_cycles`` cycles over ``total_steps``; in each, the
      weight rises linearly for the first ``ratio`` of the cycle, then holds at ``max_weight``;
    - ``target`` (Shao et al. 2020, ControlVAE): no function of the step but a PI controller
      (:mod:`textvae.core.kl_control`) that moves the weight within ``[min_weight, max_weight]``
      until the training KL holds at ``target`` nats per sentence.
    """

    kind: KLKind = "logistic"
    max_weight: float = 1.0
    warmup_steps: int = 10000
    k: float = 0.0025
    x0: int = 2500
    n_cycles: int = 4
    ratio: float = 0.5
    total_steps: int = 40000
    # Counted in the run, not in steps: the annealing ends after this share of the planned steps
    # (train.epochs x batches per epoch, capped by max_steps), whatever the corpus size. At the
    # start of a run it sets warmup_steps (linear), x0 and k (logistic: weight 0.99 of the
    # maximum there) or total_steps (cyclical); the saved config holds the steps it chose.
    anneal_fraction: float | None = None
    # kind target: the KL set point in nats per sentence (set with kind target, and only then),
    # the controller's gains and the weight's floor (textvae.core.kl_control). The gains are ten
    # and twenty times ControlVAE's (Kp 0.01, Ki 0.0001; Shao et al. 2020), chosen on the grammar
    # corpus's validation KL: at tests/tiny.py's sizes, 400 steps, targets 3, 5 and 8 nats and 4
    # seeds, Kp 0.1 / Ki 0.002 ended 11 of 12 runs within 10% of the target (mean error 6%),
    # ControlVAE's 6 of 12 (13%): its integral, Ki x (KL error) per step, is too slow to follow
    # a small model whose KL at a given weight drifts as it trains. On the quickstart model
    # (2,000 steps, target 10 nats) they held the KL average between 9.2 and 11.4 nats from step
    # 500 on (read every 100 steps); with ControlVAE's it was 12.4 to 14.0 until step 1,000.
    target: float | None = None
    kp: float = 0.1
    ki: float = 0.002
    min_weight: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self, "train.kl", "warmup_steps", "n_cycles", "total_steps")
        if self.anneal_fraction is not None and not 0.0 < self.anneal_fraction <= 1.0:
            raise ConfigError(f"train.kl.anneal_fraction must be in (0, 1] or null, got {self.anneal_fraction}")
        if self.max_weight < 0:
            raise ConfigError(f"train.kl.max_weight must be >= 0, got {self.max_weight}")
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"train.kl.ratio must be in (0, 1], got {self.ratio}")
        if (self.kind == "target") != (self.target is not None):
            raise ConfigError(
                "train.kl.kind target needs train.kl.target (the KL set point, nats per sentence)"
                if self.kind == "target" else
                f"train.kl.target is read by train.kl.kind target only, not {self.kind}: "
                "set train.kl.kind=target, or remove train.kl.target")
        if self.target is not None and not self.target > 0:
            raise ConfigError(f"train.kl.target must be positive (nats per sentence), got {self.target}")
        for name in ("kp", "ki"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.kl.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_weight <= self.max_weight:
            raise ConfigError(f"train.kl.min_weight must be in [0, max_weight = {self.max_weight}], "
                              f"got {self.min_weight}")


@dataclass
class LoopTrainConfig:
    """Optimisation, budget, evaluation and checkpointing: what every trainer's loop reads."""

    out_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    epochs: int = 10
    max_steps: int | None = None
    max_minutes: float | None = None
    # CPU threads for training; null chooses from the cores free at the start (a busy machine
    # gets fewer threads: oversubscribed OpenMP threads can run ten times slower). OMP_NUM_THREADS,
    # when set, is respected.
    threads: int | None = None
    batch_size: int = 32
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    grad_clip: float | None = 5.0
    # ReduceLROnPlateau on the validation score: multiply the LR by lr_decay once more than
    # lr_patience epoch-end validations in a row have not improved (so 1 halves it at the
    # second), down to min_lr. lr_patience: null keeps the LR constant.
    lr_decay: float = 0.5
    lr_patience: int | None = 2
    min_lr: float = 1e-5
    early_stop_patience: int | None = 5
    kl: KLScheduleConfig = field(default_factory=KLScheduleConfig)
    eval_every: int | None = None
    checkpoint_every: int = 1000
    log_every: int = 50
    # A NaN or infinite training loss: "stop" ends the run with an error and keeps the last
    # checkpoint; "skip" drops that batch without an update and counts it (metrics.jsonl
    # "skipped_batches", and the trainer state, so the count survives a resume).
    nonfinite: Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        check_positive(self, "train", "epochs", "batch_size", "checkpoint_every", "log_every")
        for name in ("max_steps", "max_minutes", "threads", "eval_every", "early_stop_patience",
                     "lr_patience"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"train.{name} must be positive or null, got {value}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if not 0.0 < self.lr_decay < 1.0:
            raise ConfigError(f"train.lr_decay must be in (0, 1), got {self.lr_decay}; "
                              "for a constant learning rate set train.lr_patience: null")
