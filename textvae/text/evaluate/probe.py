"""The linear-probe baseline of a semi-supervised comparison (Li et al. 2019 report it for text):
an unsupervised VAE's posterior means of the labelled sentences -> a multinomial logistic
regression (:func:`textvae.core.metrics.linear_probe_accuracy`) -> accuracy on labelled evaluation
sentences. The labelled sentences can be a seeded ``labels_per_class`` draw, the same draw M2's
``labels.labels_per_class`` makes with the same seed.
"""

from __future__ import annotations

from typing import Any

from textvae.core.errors import DataError
from textvae.core.label_sets import LabelSet, draw_per_class
from textvae.core.metrics import linear_probe_accuracy
from textvae.text.api.model import TextVAE
from textvae.text.data.labels import Records


def probe_accuracy(tv: TextVAE, train: Records, evaluation: Records, *, factor: str,
                   labels_per_class: int | None = None, label_seed: int = 0) -> dict[str, Any]:
    """Fit the probe on ``train``'s labelled sentences (or a draw of them) and score it on
    ``evaluation``'s. Records: sentences and per-sentence label dicts (or None)."""
    label_set = LabelSet.from_records(train[1], [factor])
    classes = [label_set.encode(x)[0] for x in train[1]]
    picked = (draw_per_class(classes, labels_per_class, label_seed) if labels_per_class
              else [i for i, c in enumerate(classes) if c >= 0])
    scored = [i for i, x in enumerate(evaluation[1]) if x is not None and factor in x]
    if not picked or not scored:
        raise DataError(f"the probe needs labelled ({factor}) training and evaluation sentences")
    train_mu = tv.encode([train[0][i] for i in picked])[0]  # (N_l, Z)
    eval_mu = tv.encode([evaluation[0][i] for i in scored])[0]  # (M, Z)
    accuracy = linear_probe_accuracy(train_mu, [classes[i] for i in picked], eval_mu,
                                     [label_set.encode(evaluation[1][i])[0] for i in scored])
    return {"factor": factor, "labelled": len(picked), "evaluated": len(scored), "accuracy": accuracy,
            "error": 1.0 - accuracy, "labels_per_class": labels_per_class, "label_seed": label_seed}
