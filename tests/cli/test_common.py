"""What every textvae subcommand shares: the one training-command handler."""

import argparse
import signal
from types import SimpleNamespace

import pytest

from textvae.cli.common import add_train_args, run_training


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_train_args(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("stopped, status", [
    ("reached max_steps=3", 0),
    ("received SIGINT", 128 + signal.SIGINT),
    ("received SIGTERM", 128 + signal.SIGTERM),
])
def test_exit_status_is_128_plus_the_signal_for_every_trainer(stopped, status):
    seen = {}

    def fake_train(config, *, resume, progress):
        seen.update(device=config.train.device, resume=resume, progress=progress)
        return SimpleNamespace(stopped=stopped)

    config = SimpleNamespace(train=SimpleNamespace(device="auto"))
    got, result = run_training(parse("--device", "cpu", "--resume", "--no-progress"), config,
                               fake_train)
    assert got == status and result.stopped == stopped
    assert seen == {"device": "cpu", "resume": True, "progress": False}


def test_text_and_image_train_take_the_same_arguments():
    from textvae.cli import build_parser

    parser = build_parser()
    text = parser.parse_args(["train", "--config", "c.yaml", "--set", "a.b=1", "--resume"])
    image = parser.parse_args(["image", "train", "--config", "c.yaml", "--set", "a.b=1", "--resume"])
    shared = ("config", "overrides", "device", "resume", "no_progress")
    assert [getattr(text, k) for k in shared] == [getattr(image, k) for k in shared]
