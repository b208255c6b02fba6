"""The shared loop's contract with its trainers: the hooks it cannot do without are abstract, so a
trainer missing one fails when it is built, not at the first step that calls it."""

import pytest
import torch

from textvae.core.training.loop import TrainerBase
from textvae.image.training.train import ImageTrainer
from textvae.text.training.train import Trainer

REQUIRED = {"batches", "train_batch", "train_metrics", "validate", "_scheduled_validation",
            "selection_score", "save", "start_message", "result"}
WITH_DEFAULTS = {"progress_postfix", "_validation_due"}


def test_the_required_hooks_are_abstract_and_the_others_have_defaults():
    assert TrainerBase.__abstractmethods__ == REQUIRED
    for name in WITH_DEFAULTS:
        assert not getattr(getattr(TrainerBase, name), "__isabstractmethod__", False), name


@pytest.mark.parametrize("trainer", [Trainer, ImageTrainer])
def test_the_shipped_trainers_implement_every_required_hook(trainer):
    assert trainer.__abstractmethods__ == frozenset()


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_trainer_missing_a_required_hook_fails_at_construction(tiny_config, missing):
    hooks = {name: (lambda self, *args, **kwargs: None) for name in REQUIRED - {missing}}
    partial = type("Partial", (TrainerBase,), hooks)
    model = torch.nn.Linear(3, 5)
    with pytest.raises(TypeError, match=missing):
        partial(tiny_config(), model, torch.device("cpu"), log=lambda message: None, writes=False)
    whole = type("Whole", (TrainerBase,), {**hooks, missing: lambda self, *args, **kwargs: None})
    whole(tiny_config(), model, torch.device("cpu"), log=lambda message: None, writes=False)
