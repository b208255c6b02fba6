"""Data-parallel training on PyTorch's own engine: DistributedDataParallel under torchrun.

    torchrun --nproc_per_node 4 scripts/train.py --config configs/ptb_bowman.yaml
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST:29500 scripts/train.py --config ...

How a step is split, so that N processes train exactly like one process with the same global
batch and seed:

- every rank builds the same global batch order (the bucketed sampler is deterministic in
  (seed, epoch)) and collates the whole global batch;
- every rank draws word dropout and the reparameterization noise for the whole global batch from
  the same seeded generator, then keeps its own rows (rows ``rank, rank + N, ...``), so each
  sentence gets the noise it would get in a single process;
- each rank's mean loss is scaled by ``rows_here * N / global_rows`` before backward; DDP's
  gradient average then equals the gradient of the global batch mean exactly (up to float
  summation order), even when the last batch does not split evenly.

What does not carry over: dropout layers draw from each rank's own global RNG, and free bits
clamp the KL averaged over a rank's rows, so with ``model.dropout > 0`` or free bits the run is
equally valid but not bitwise the single-process run. A KL set point (``train.kl.kind: target``)
reads the KL of the global batch, all-reduced with the loss terms, so every rank's controller
sets the single process's weight. Only rank 0 writes logs, metrics and
checkpoints; every rank validates (same weights, same numbers) so the learning-rate schedule and
early stopping agree everywhere; stop conditions (time budget, signals) are agreed on by an
all-reduce every step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from textvae.core.errors import ConfigError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job. ``world_size == 1`` is the ordinary single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # Whether this process's from_environment() initialised the process group, and so must
    # destroy it (close()); a group the caller set up is the caller's to destroy.
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """(b,) the rows of a global batch of ``batch_size`` this rank trains on."""
        return torch.arange(self.rank, batch_size, self.world_size, device=device)

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if ``flag`` is true on any rank (a no-op for one process)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Elementwise sum of ``values`` over ranks (returns a new tensor)."""
        if not self.enabled:
            return values
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group if this context initialised it (after the last
        collective); safe to call twice, and a no-op for one process."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def __enter__(self) -> Distributed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def from_environment(device_type: str) -> Distributed:
    """Join the job torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT), or return the single-process context when there is none.

    The backend is NCCL for CUDA and gloo for the CPU.
    """
    size = world_size()
    if size <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns_group = not dist.is_initialized()
    if owns_group:
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Distributed(rank=rank, world_size=size, local_rank=local_rank,
                       owns_group=owns_group)


def world_size() -> int:
    """How many processes torchrun started for this job (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def refuse_data_parallel(trainer: str) -> None:
    """For the trainers that train as one process only: refuse a torchrun job, in which every
    process would otherwise train the whole run alone and they would all write one run
    directory.

    Raises:
        ConfigError: naming the trainer and the job's size, when ``WORLD_SIZE`` > 1.
    """
    if world_size() > 1:
        raise ConfigError(
            f"{trainer} trains as one process and does not support torchrun (this is one of "
            f"WORLD_SIZE={world_size()} processes); run it without torchrun. Data-parallel "
            "training is the text VAE's (textvae train on an unlabelled config)")


def shutdown(context: Distributed) -> None:
    """Leave the process group (after the last collective): :meth:`Distributed.close`."""
    context.close()
