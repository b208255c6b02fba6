"""What every textvae subcommand shares: the one training-command handler."""

import argparse
import signal
import sys
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
def test_exit_status_is_128_plus_the_signal_for_every_trainer(stopped, status, monkeypatch,
                                                              tmp_path):
    seen = {}

    def fake_train(config, *, resume, progress, meta_extra):
        seen.update(device=config.train.device, resume=resume, progress=progress)
        seen["command"] = meta_extra["command"]
        return SimpleNamespace(stopped=stopped)

    config = SimpleNamespace(train=SimpleNamespace(device="auto", out_dir=str(tmp_path / "run")))
    argv = ["train", "--device", "cpu", "--resume", "--no-progress", "--set", "data.train_path=my file.txt"]
    monkeypatch.setattr(sys, "argv", ["/venv/bin/textvae", *argv])
    got, result = run_training(parse(*argv[1:]), config, fake_train)
    assert got == status and result.stopped == stopped
    assert seen == {"device": "cpu", "resume": True, "progress": False,
                    # recorded for the model card, quoted as a shell takes it
                    "command": "textvae train --device cpu --resume --no-progress --set "
                               "'data.train_path=my file.txt'"}


def test_text_and_image_train_take_the_same_arguments():
    from textvae.cli import build_parser

    parser = build_parser()
    text = parser.parse_args(["train", "--config", "c.yaml", "--set", "a.b=1", "--resume"])
    image = parser.parse_args(["image", "train", "--config", "c.yaml", "--set", "a.b=1", "--resume"])
    shared = ("config", "overrides", "device", "resume", "no_progress")
    assert [getattr(text, k) for k in shared] == [getattr(image, k) for k in shared]


@pytest.mark.parametrize("command", [
    ["bench", "--json", "no/such/dir/bench.json"],
    ["quality", "-c", "no/such/run", "--out", "no/such/dir/quality.json"],
])
def test_an_unwritable_output_is_refused_before_any_work(command, tmp_path, monkeypatch, capsys):
    from textvae.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textvae: error: cannot write --") and "its directory does not exist" in err


def test_the_command_line_starts_without_loading_torch():
    """`textvae --help` must stay instant: the parsers take their defaults from torch-free
    modules (textvae.text.run.decoding, textvae.text.evaluate.settings) and handlers import the rest."""
    import subprocess
    import sys

    code = ("import sys, textvae.cli; textvae.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_long_commands_use_only_the_free_cores(monkeypatch, capsys):
    import torch

    from textvae.cli.common import use_free_cores

    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    chosen = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    monkeypatch.setattr("textvae.core.device.choose_threads",
                        lambda setting: (1, "threads: 1 of 4 cores (... --set train.threads=N to choose)"))
    use_free_cores()
    assert chosen == [1]
    assert capsys.readouterr().err == "threads: 1 of 4 cores (... OMP_NUM_THREADS=N to choose)\n"
    monkeypatch.setattr("textvae.core.device.choose_threads", lambda setting: (4, "threads: 4"))
    use_free_cores()
    assert chosen == [1] and capsys.readouterr().err == ""  # an idle machine: nothing changes
