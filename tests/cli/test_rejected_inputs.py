"""Inputs the command line refuses in one line, exit 2 (issue 34): a grammar corpus too small for
its splits, a device this machine lacks (named as the user gave it), a checkpoint path that is a
symbolic link loop."""

import argparse
import os

import pytest
import torch

from textvae.cli import build_parser, main


def _refused(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("textvae: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err[len("textvae: error: "):].rstrip("\n")


# ------------------------------------------------------------------------------------ grammar sizes


def test_data_grammar_refuses_a_corpus_too_small_for_its_splits(tmp_path, capsys):
    out = tmp_path / "grammar"
    message = _refused(["data", "grammar", "--n", "5", "--out", str(out)], capsys)
    assert message == ("--n 5 is too small to split: train 5, valid 0, test 0 (valid 5%, test 5%); "
                       "every split needs a sentence, so give --n 11 or more")
    assert not out.exists()  # nothing written
    assert main(["data", "grammar", "--n", "11", "--out", str(out)]) == 0
    assert "train 9, valid 1, test 1" in capsys.readouterr().out


def test_a_grammar_size_too_small_names_the_config_key(tmp_path, capsys):
    argv = ["train", "--set", "data.source=grammar", "--set", "data.grammar_size=7", "--set", "train.device=cpu",
            "--set", "train.max_steps=1", "--set", f"train.out_dir={tmp_path / 'run'}", "--no-progress"]
    message = _refused(argv, capsys)
    assert message.startswith("data.grammar_size=7 is too small to split: train 7, valid 0, test 0")
    assert message.endswith("give data.grammar_size=11 or more")


# ------------------------------------------------------------------------------------ devices


def _device_commands():
    """Every (sub)command with a --device flag, with the fewest arguments that parse."""
    found = []

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
        if any("--device" in action.option_strings for action in parser._actions):
            found.append(words + _required_arguments(parser))

    walk(build_parser(), [])
    return found


def _required_arguments(parser):
    argv = []
    for action in parser._actions:
        value = str(list(action.choices)[0]) if action.choices else "x"
        if not action.option_strings and action.nargs not in ("*", "?", argparse.SUPPRESS):
            argv += [value] * (action.nargs if isinstance(action.nargs, int) else 1)
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value]
    return argv


DEVICE_COMMANDS = _device_commands()


def test_the_device_commands_are_found():
    names = {" ".join(w for w in argv if w != "x")[:20] for argv in DEVICE_COMMANDS}
    assert len(DEVICE_COMMANDS) >= 20, names
    for command in ("sample", "train", "evaluate", "bench", "export", "image sample", "image restore"):
        assert any(name.startswith(command) for name in names), (command, names)


@pytest.mark.parametrize("argv", DEVICE_COMMANDS, ids=lambda argv: " ".join(w for w in argv if w != "x"))
def test_every_device_flag_names_itself(argv, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _refused([*argv, "--device", "cuda"], capsys) == \
        "--device cuda: CUDA is not available here; use auto or cpu"


def test_a_device_index_past_the_machine_and_an_unknown_name(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _refused(["sample", "--device", "cuda:3"], capsys) == \
        "--device cuda:3: this machine has 1 CUDA device (cuda:0)"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert _refused(["evaluate", "x", "--device", "cuda:3"], capsys).endswith("has 3 CUDA devices (cuda:0 to cuda:2)")
    assert _refused(["sample", "--device", "gpu"], capsys) == \
        "--device gpu: unknown device; use auto, cpu, cuda or cuda:N"


def test_a_device_set_in_the_config_names_the_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["train", "--set", "data.source=grammar", "--set", "data.grammar_size=31", "--set", "train.device=cuda",
            "--set", f"train.out_dir={tmp_path / 'run'}", "--no-progress"]
    assert _refused(argv, capsys) == "train.device='cuda': CUDA is not available here; use auto or cpu"


# ------------------------------------------------------------------------------------ symbolic link loops


@pytest.mark.parametrize("argv", [
    ["sample", "-c", "LOOP"],
    ["reconstruct", "-c", "LOOP", "the dog barked ."],
    ["fit-prior", "-c", "LOOP"],
    ["evaluate", "LOOP"],
    ["export", "LOOP", "--out", "OUT"],
    ["convert", "LOOP"],
    ["report", "LOOP", "--out", "OUT.html"],
    ["image", "sample", "LOOP", "--out", "OUT.png"],
    ["image", "evaluate", "LOOP"],
    ["image", "restore", "-c", "LOOP", "--input", "IN.png", "--out", "OUT"],
])
def test_a_checkpoint_that_is_a_symbolic_link_loop_is_named_so(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # no note on the threads of a busy machine
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    argv = [str(loop) if w == "LOOP" else str(tmp_path / w) if w.startswith(("OUT", "IN")) else w for w in argv]
    assert _refused(argv, capsys).startswith(f"checkpoint {loop} is a symbolic link loop")
