"""What a sentence-model training run returns (:class:`TrainResult`) and the summary it prints
(:func:`summary`), for the plain and the labelled trainers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainResult:
    """What :func:`~textvae.text.training.train.train` returns: where the run lives and how it
    ended."""

    run_dir: Path
    step: int
    epoch: int
    stopped: str
    valid: dict[str, float]
    best_neg_elbo: float
    seconds: float
    notes: list[str] = field(default_factory=list)  # warnings the summary ends with
    by_reconstruction: bool = False  # `best` chosen by validation reconstruction (a KL set point)


def summary(result: TrainResult) -> str:
    """A short human summary of a finished run."""
    v = result.valid
    lines = [
        f"done: {result.stopped} after {result.step} steps ({result.seconds / 60:.1f} min).",
    ]
    if v and "neg_elbo" in v:
        lines.append(
            f"validation: -ELBO {v['neg_elbo']:.2f} nats/sentence (reconstruction "
            f"{v['reconstruction']:.2f} + KL {v['kl']:.2f}), PPL <= {v['ppl_bound']:.2f}, "
            f"active units {v['active_units']}"
        )
    if v and "accuracy" in v:  # a labelled run with a classifier, whose best is by this
        lines.append(f"validation: accuracy {v['accuracy']:.4f}, classification NLL {v['class_nll']:.4f}")
    best_by = ("classification error" if v and "error" in v
               else "reconstruction, the KL held at its set point" if result.by_reconstruction
               else "-ELBO")
    lines.append(f"checkpoint: {result.run_dir / 'last'}  (best by validation {best_by}: {result.run_dir / 'best'})")
    return "\n".join(lines + result.notes)

