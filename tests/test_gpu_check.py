"""scripts/gpu_check.sh: its dry run lists commands that today's command line and configs
accept (so the check cannot rot on machines without a GPU), it refuses to start with a clear
message when something is missing, and on CUDA a training step makes no host-device sync."""

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from textvae.cli import build_parser
from textvae.image.run.config import load_image_config
from textvae.text.run.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclass looks its module up while it is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["gpu_check"]
    return module


def _dry_run() -> list[list[str]]:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run"],
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [shlex.split(line, comments=True) for line in done.stdout.splitlines() if line.strip()]


def test_the_dry_run_lists_commands_that_parse():
    commands = _dry_run()
    assert len(commands) == 10
    seen = set()
    for argv in commands:
        assert argv[0] == "python"
        if argv[1:3] == ["-m", "textvae"]:
            args = build_parser().parse_args(argv[3:])
        elif "scripts/train.py" in argv:  # the DDP run: torchrun's script takes train's arguments
            assert argv[1:3] == ["-m", "torch.distributed.run"]
            args = build_parser().parse_args(["train", *argv[argv.index("scripts/train.py") + 1:]])
        elif argv[1:3] == ["-m", "pytest"]:
            tests = [a for a in argv if a.startswith("tests/")]
            assert tests and all((ROOT / t).is_file() for t in tests)
            assert "tests/test_gpu_check.py" in tests  # the sync test below runs there too
            seen.add("pytest")
            continue
        else:
            assert argv[1] == "scripts/gpu_check.py"
            _gpu_check().build_parser().parse_args(argv[2:])
            seen.add(argv[2])
            continue
        command = argv[argv.index("image") + 1] if "image" in argv else args.command
        seen.add(command)
        # The configs and their overrides still load (an unknown key is an error).
        if "image" in argv:
            load_image_config(args.config, args.overrides)
        else:
            load_config(args.config, args.overrides)
    assert seen == {"pytest", "--sync-step", "--iw-step", "bench", "train"}


def test_the_check_says_what_is_missing_and_runs_nothing(monkeypatch, tmp_path, capsys):
    gpu_check = _gpu_check()
    monkeypatch.setattr(gpu_check, "REQUIRED_MODULES", (*gpu_check.REQUIRED_MODULES,
                                                        "no_such_module_37"))
    monkeypatch.setattr(gpu_check, "run_check", lambda *a: pytest.fail("the check ran"))
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing Python module 'no_such_module_37': pip install no_such_module_37" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_training_step_never_syncs():
    assert _gpu_check().sync_step() == 0
