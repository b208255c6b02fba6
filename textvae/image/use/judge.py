"""A judge of generated images: a classifier trained by textvae that scores how often samples
asked for a class are read as that class, and says what judged them.

A judge is a semi-supervised image run trained on every label (``model.model_type:
classifier``; ``configs/mnist_judge.yaml`` reads digits, ``configs/sprites_judge.yaml`` the
sprites' shape), evaluated once on its whole test split with ``textvae image evaluate``, which
keeps the test accuracy beside the weights (:data:`textvae.image.use.classify.TEST_RECORD`). A
score without that record would not say how far to trust it, so :func:`load_judge` refuses a
judge that was never evaluated, or whose record belongs to other weights.

Shapes: N = images, C = channels, H = W = side, K = classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textvae.core.checkpoint import resolve_checkpoint_dir
from textvae.core.errors import InputError, TextVAEError
from textvae.core.label_sets import LabelSet
from textvae.image.models.m2 import M2
from textvae.image.training.semisup_train import load_semisup_model
from textvae.image.use.classify import TEST_RECORD, classify_images


@dataclass
class Judge:
    """A loaded judge: its model, classes and the test record of these very weights."""

    model: M2
    label_set: LabelSet
    checkpoint: Path
    test_accuracy: float
    test_images: int

    @property
    def factor(self) -> str:
        return self.label_set.names[0]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.label_set.factors[self.factor]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model.image_shape

    def predict(self, images: Tensor) -> Tensor:
        """Images (N, C, H, W) in [0, 1] -> (N,) class ids (indices into :attr:`classes`), CPU.

        Raises:
            InputError: the images are not the shape the judge was trained on.
        """
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(self.image_shape):
            raise InputError(f"the judge reads images of shape {tuple(self.image_shape)} "
                             f"(C, H, W); got {tuple(images.shape)}")
        return classify_images(self.model, images).argmax(dim=1)

    def describe(self) -> dict[str, Any]:
        """What judged: every sample score carries this."""
        return {"judge": str(self.checkpoint), "judge_factor": self.factor,
                "judge_test_accuracy": self.test_accuracy,
                "judge_test_images": self.test_images}


def load_judge(path: str | Path, device: str = "auto") -> Judge:
    """Load a judge from a run directory or checkpoint.

    Raises:
        CheckpointError: not a readable semi-supervised checkpoint.
        TextVAEError: the checkpoint has no test record for its own weights.
    """
    model, _, meta, label_set = load_semisup_model(path, device)
    checkpoint = resolve_checkpoint_dir(path)
    record_path = checkpoint / TEST_RECORD
    how = f"evaluate it on the whole test split first: textvae image evaluate {path}"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TextVAEError(f"the judge {checkpoint} has no recorded test accuracy; {how}") from None
    except (OSError, ValueError) as err:
        raise TextVAEError(f"cannot read {record_path} ({err}); {how}") from None
    if record.get("step") != meta.get("step"):
        raise TextVAEError(f"{record_path} was measured at step {record.get('step')}, the "
                           f"weights are from step {meta.get('step')}; {how}")
    return Judge(model, label_set, checkpoint.resolve(), float(record["accuracy"]),
                 int(record["images"]))


def score_class_samples(judge: Judge, images: Tensor, requested: Tensor) -> dict[str, Any]:
    """How often images generated for a class are judged to be of that class.

    Args:
        judge: from :func:`load_judge`.
        images: (N, C, H, W) generated images in [0, 1].
        requested: (N,) the class id (index into ``judge.classes``) each was generated for.

    Returns:
        ``carried`` (the share judged as requested), ``carried_per_class`` (class -> share, for
        the classes requested), ``images`` (N), and :meth:`Judge.describe`'s keys.
    """
    if requested.dim() != 1 or len(requested) != len(images):
        raise InputError(f"requested must hold one class per image: {len(images)} images, "
                         f"requested of shape {tuple(requested.shape)}")
    if len(images) == 0:
        raise InputError("no images to judge")
    requested = requested.cpu().long()
    if int(requested.min()) < 0 or int(requested.max()) >= len(judge.classes):
        raise InputError(f"requested classes must be ids 0..{len(judge.classes) - 1} of "
                         f"{judge.factor} ({', '.join(judge.classes)})")
    hit = (judge.predict(images) == requested).float()  # (N,)
    per_class = {judge.classes[int(c)]: round(float(hit[requested == c].mean()), 4)
                 for c in torch.unique(requested)}
    return {"carried": round(float(hit.mean()), 4), "carried_per_class": per_class,
            "images": len(images), **judge.describe()}
