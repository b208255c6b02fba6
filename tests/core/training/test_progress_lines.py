"""The training loop's progress when standard error is not a terminal (issue 34: ``textvae train
> train.log 2>&1``): a plain line every TEXTVAE_PROGRESS_SECONDS, with the step, steps/s, ETA,
loss and tokens/s, and no carriage-return frames of a redrawn bar."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import TINY_RUN

from textvae.core import progress as progress_module
from textvae.core.progress import ENV_VAR
from textvae.text.training.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[3]
LINE = re.compile(r"^training, epoch \d+/\d+: \d+/\d+ steps \(\d+%\), [\d.]+ steps/s, ETA \S+"
                  r"(, loss=[\d.-]+, kl=[\d.]+, klw=[\d.]+, tok_s=\d+)?$")


def test_training_writes_a_line_every_interval(tiny_config, monkeypatch, capsys):
    ticks = iter(range(10**6))  # the clock moves one second each time it is read
    monkeypatch.setattr(progress_module, "now", lambda: float(next(ticks)))
    monkeypatch.setenv(ENV_VAR, "3")
    train(tiny_config("train.max_steps=30", "train.epochs=100"), progress=True, log=lambda _: None)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines
    assert lines[0].startswith("training, epoch 1/100: ")
    assert lines[-1].split(": ")[1].split()[0] in {f"{n}/30" for n in range(25, 31)}
    assert any("loss=" in line and "tok_s=" in line for line in lines)


def _train_cli(tmp_path, name, **env):
    """``textvae train`` on the tiny run in a subprocess, stderr to a file as in ``2> log``;
    returns the log's text (read as bytes, so that no '\\r' is translated away)."""
    sets = [arg for item in TINY_RUN for arg in ("--set", item)]
    log = tmp_path / f"{name}.log"
    with open(log, "wb") as err:
        subprocess.run(
            [sys.executable, "-m", "textvae", "train", *sets, "--set", "train.max_steps=40",
             "--set", "train.threads=1", "--set", f"train.out_dir={tmp_path / name}"],
            stdout=subprocess.DEVNULL, stderr=err, check=True, timeout=300, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )
    return log.read_bytes().decode()


def test_a_training_log_file_has_short_lines_and_no_carriage_returns(tmp_path):
    text = _train_cli(tmp_path, "run", **{ENV_VAR: "0.001"})
    assert "\r" not in text
    assert max(map(len, text.splitlines()), default=0) < 300
    updates = [line for line in text.splitlines() if line.startswith("training, ")]
    assert updates and all(LINE.match(line) for line in updates), updates
