"""Using a trained code prior: class-conditional samples decoded to images, grids with one row
per class, the test bits per code, and the samples a judge classifier scores.

Every function takes a :class:`~textvae.image.training.prior_train.LoadedPrior`
(:func:`~textvae.image.training.prior_train.load_prior`) and draws from an explicit generator on the
prior's device, so a seed fixes the pictures. Images are the VQ decoder's mean, (N, C, H, W) in
[0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import InputError
from textvae.image.training.prior_train import LoadedPrior, code_bits, prepare_codes


def class_id(loaded: LoadedPrior, value: str) -> int:
    """The class id of a class value (``"3"``), for ``--class``.

    Raises:
        InputError: the prior is unconditional, or the value is not one of its classes (the
            message lists the known ones).
    """
    labels = loaded.label_set  # None only where the prior is unconditional (load_prior)
    if not loaded.prior.num_classes or labels is None:
        raise InputError("this prior is unconditional (model.class_conditional: false): it "
                         "cannot sample a requested class; drop --class")
    return labels.index(labels.names[0], str(value))


def class_names(loaded: LoadedPrior) -> list[str]:
    """The classes' values, in class-id order ([] for an unconditional prior)."""
    labels = loaded.label_set  # None only where the prior is unconditional (load_prior)
    if not loaded.prior.num_classes or labels is None:
        return []
    return list(labels.factors[labels.names[0]])


@torch.no_grad()
def sample_images(loaded: LoadedPrior, classes: Tensor | None, n: int | None = None, *,
                  temperature: float = 1.0, generator: torch.Generator | None = None,
                  batch_size: int = 500) -> Tensor:
    """Draw codes from the prior and decode them: (N, C, H, W) images in [0, 1].

    Args:
        loaded: the prior and its VQ model.
        classes: (N,) class ids for a class-conditional prior; None for an unconditional one
            (then ``n`` says how many).
        n: how many images when ``classes`` is None.
        temperature: the prior's softmax temperature (0: argmax codes).
        generator: the random stream, on the prior's device.
        batch_size: maps drawn at once.
    """
    device = next(loaded.prior.parameters()).device
    if loaded.prior.num_classes:
        if classes is None:
            raise InputError("this prior is class-conditional: give the classes to sample")
        classes = classes.to(device)
    elif classes is not None:
        raise InputError("this prior is unconditional: it takes no classes")
    total = len(classes) if classes is not None else n
    if total is None:
        raise InputError("say how many images to sample from an unconditional prior (n)")
    images = []
    for start in range(0, total, batch_size):
        count = min(batch_size, total - start)
        chunk = None if classes is None else classes[start:start + count]
        codes = loaded.prior.sample(count, chunk, temperature=temperature, generator=generator)
        images.append(loaded.vq.likelihood.mean(loaded.vq.decode_code_maps(codes)).cpu())
    return torch.cat(images)


def per_class_requests(loaded: LoadedPrior, per_class: int) -> Tensor:
    """(Y * per_class,) class ids: per_class of class 0, then of class 1, ... (a grid row each)."""
    return torch.arange(loaded.prior.num_classes).repeat_interleave(per_class)


def class_grid(loaded: LoadedPrior, per_class: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
    """One row of ``per_class`` samples per class, class 0 first: (Y * per_class, C, H, W)."""
    return sample_images(loaded, per_class_requests(loaded, per_class),
                         temperature=temperature, generator=generator)


def evaluate_prior(loaded: LoadedPrior, split: str = "test", batch_size: int = 500
                   ) -> dict[str, Any]:
    """The prior's negative log-likelihood of the VQ run's ``split`` codes: ``nats_per_image``,
    ``bits_per_code`` and ``bits_per_code_level{l}`` (0 = coarsest), with what was measured."""
    codes, _ = prepare_codes(loaded.vq, loaded.vq_config, (split,),
                             bool(loaded.prior.num_classes), loaded.label_set)
    classes = codes.classes[split]
    figures = code_bits(loaded.prior, codes.codes[split], classes, batch_size)
    return {
        "split": split, "maps": len(classes), "code_levels": loaded.prior.code_levels,
        "class_conditional": bool(loaded.prior.num_classes),
        "vq_checkpoint": loaded.meta.get("vq_checkpoint"), "step": loaded.meta.get("step"),
        **figures,
    }
