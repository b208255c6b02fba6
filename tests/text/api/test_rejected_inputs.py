"""Inputs the Python API refuses in one line (issue 34): non-finite latents, sentences that are
not strings, a checkpoint path that is a symbolic link loop, a device that is not there."""

import math
import os

import pytest
import torch
from tiny import TINY_RUN, train_tiny

import textvae
from textvae.core.errors import CheckpointError, ConfigError, InputError
from textvae.text.api import from_pretrained, load
from textvae.text.generate import interpolation_path
from textvae.text.run.config import load_config
from textvae.text.training.train_labelled import train_labelled

A, C = "the dog barked .", "the cat ran ."

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tv(tmp_path_factory, one_thread):
    run = train_tiny(tmp_path_factory.mktemp("vae") / "run", "train.max_steps=3", "train.threads=1")
    return load(run, device="cpu")


@pytest.fixture(scope="module")
def cvae(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("cvae") / "run"
    cfg = load_config(None, [*TINY_RUN, "labels.factors=[tense]", "labels.embed_dim=3",
                             "train.max_steps=3", "train.threads=1", f"train.out_dir={out}"])
    train_labelled(cfg, progress=False, log=lambda message: None)
    return load(out, device="cpu")


# ------------------------------------------------------------------------------------ latents


@pytest.mark.parametrize("value, word", [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_decode_refuses_non_finite_latents_naming_the_row(tv, value, word):
    z = torch.zeros(5, 7)
    z[2, 3] = value
    for method in (tv.decode, tv.decode_ids):
        with pytest.raises(InputError, match=rf"^z holds {word} at row 2, column 3; latents must be finite$"):
            method(z)
    with pytest.raises(InputError, match=r"^z holds nan at row 0, column 6; latents must be finite \(2 "):
        tv.decode([[0.0] * 6 + [math.nan], [math.nan] * 1 + [0.0] * 6])


def test_decode_refuses_latents_that_are_not_numbers(tv):
    with pytest.raises(InputError, match=r"^z must be a tensor or a list of rows of numbers, shape \(S, 7\); got None$"):
        tv.decode(None)
    with pytest.raises(InputError, match=r"z must be a tensor .*got list \(\[\['a'"):
        tv.decode([["a"] * 7])


def test_the_labelled_model_refuses_non_finite_latents_too(cvae):
    with pytest.raises(InputError, match="z holds nan at row 0"):
        cvae.decode(torch.full((1, 7), math.nan))


def test_interpolation_path_refuses_non_finite_endpoints():
    z_a, z_b = torch.zeros(7), torch.ones(7)
    z_b[4] = math.inf
    with pytest.raises(InputError, match=r"^z_b holds inf at column 4; latents must be finite$"):
        interpolation_path(z_a, z_b, steps=5)
    with pytest.raises(InputError, match=r"^z_a holds nan at column 0"):
        interpolation_path(torch.full((7,), math.nan), torch.ones(7), steps=5)


# ------------------------------------------------------------------------------------ sentences


@pytest.mark.parametrize("call", [
    lambda m, s: m.encode(s),
    lambda m, s: m.reconstruct(s),
    lambda m, s: m.token_ids(s),
])
def test_sentence_lists_must_hold_strings(tv, call):
    with pytest.raises(InputError, match=r"^sentences must be a list of strings, got None$"):
        call(tv, None)
    with pytest.raises(InputError, match=r"^sentences must be a list of strings, got int \(3\)$"):
        call(tv, 3)
    with pytest.raises(InputError, match=r"^sentences\[2\] is int \(3\), not a string$"):
        call(tv, [A, C, 3])
    with pytest.raises(InputError, match=r"^sentences\[0\] is None, not a string$"):
        call(tv, [None])
    with pytest.raises(InputError, match="wrap it in a list"):  # one string: kept as it was
        call(tv, A)


def test_the_sentences_of_interpolate_and_analogy_are_named(tv):
    with pytest.raises(InputError, match=r"^a must be a string \(one sentence\), got None$"):
        tv.interpolate(None, C)
    with pytest.raises(InputError, match=r"^b must be a string \(one sentence\), got list \(\['the cat"):
        tv.iter_interpolate(A, [C])
    with pytest.raises(InputError, match=r"^c must be a string \(one sentence\), got float \(1\.5\)$"):
        tv.analogy(A, C, 1.5)


def test_a_generator_of_sentences_still_works(tv):
    mu, _ = tv.encode(s for s in (A, C))
    assert mu.shape == (2, 7)


def test_the_labelled_model_checks_its_sentences_in_the_same_place(cvae):
    with pytest.raises(InputError, match=r"^sentences must be a list of strings, got None$"):
        cvae.classify(None)
    with pytest.raises(InputError, match=r"^sentences\[1\] is bytes \(b'the cat ran \.'\), not a string$"):
        cvae.transfer([A, b"the cat ran ."], "tense=past")
    with pytest.raises(InputError, match=r"^sentences must be a list of strings, got None$"):
        cvae.encode(None)
    with pytest.raises(InputError, match=r"^label must be"):
        cvae.sample(2, label=3)
    assert len(cvae.classify(s for s in (A, C))) == 2


# ------------------------------------------------------------------------------------ paths, devices


def test_a_symbolic_link_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    for call in (load, from_pretrained, textvae.load):
        with pytest.raises(CheckpointError, match=rf"^checkpoint {loop} is a symbolic link loop"):
            call(loop)
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "gone", dangling)
    with pytest.raises(CheckpointError, match=rf"^checkpoint {dangling} is a symbolic link to {tmp_path / 'gone'}, "
                                             "which does not exist"):
        load(dangling)
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: .*textvae train"):
        load(tmp_path / "missing")


def test_load_names_its_device_argument(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device='cuda': CUDA is not available here; use auto or cpu$"):
        load(tmp_path, device="cuda")
