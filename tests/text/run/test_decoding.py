"""textvae.text.run.decoding: the decoding defaults' one home, DecodingOptions, and the option checks
(and that the decoders of textvae.text.generate take their defaults from it)."""

import dataclasses
import inspect
import re

import pytest
import torch

from text.generate.helpers import (  # tests/text/generate/helpers.py
    ENDS,
    B,
    V,
    Z,
    latents,
    tiny_model,
)
from textvae.core.errors import TextVAEError
from textvae.text.generate import (
    DECODING_METHODS,
    DEFAULT_BEAM_SIZE,
    DEFAULT_LENGTH_NORMALIZATION,
    DEFAULT_MAX_LEN,
    DEFAULT_METHOD,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DEFAULT_TOP_P,
    DecodingError,
    DecodingOptions,
    beam_search,
    check_decoding_options,
    filter_logits,
    sample_decode,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# The documented defaults, written out here on purpose: a change to them must be deliberate.
DOCUMENTED = {
    "method": "greedy", "max_len": 64, "temperature": 1.0, "top_k": None, "top_p": None,
    "beam_size": 5, "length_normalization": True,
}
NAMES = ["beam_size", "length_normalization", "max_len", "method", "temperature", "top_k", "top_p"]


def test_defaults_equal_the_documented_values():
    options = DecodingOptions()
    assert options.as_dict() == DOCUMENTED
    assert list(options.as_dict()) == list(DOCUMENTED)  # field order, for records and **kwargs
    assert DecodingOptions.names() == tuple(DOCUMENTED)
    constants = (DEFAULT_METHOD, DEFAULT_MAX_LEN, DEFAULT_TEMPERATURE, DEFAULT_TOP_K,
                 DEFAULT_TOP_P, DEFAULT_BEAM_SIZE, DEFAULT_LENGTH_NORMALIZATION)
    assert constants == tuple(DOCUMENTED.values())
    assert DEFAULT_METHOD in DECODING_METHODS
    assert DecodingOptions.from_overrides() == DecodingOptions.from_overrides({}) == options


@pytest.mark.parametrize("function", [check_decoding_options, sample_decode, filter_logits,
                                      beam_search])
def test_every_keyword_default_in_the_package_comes_from_the_options(function):
    defaults = DecodingOptions().as_dict()
    parameters = inspect.signature(function).parameters
    # max_len has no default in the decoders (a caller must choose it); the rest must agree.
    shared = [name for name, p in parameters.items()
              if name in defaults and p.default is not inspect.Parameter.empty]
    assert shared  # each function takes some decoding options with defaults
    for name in shared:
        assert parameters[name].default == defaults[name], (function.__name__, name)


def test_decoding_with_the_default_options_is_decoding_with_the_decoders_defaults():
    # vocab 37, latent 7, batch 5; max_len 64 would be slow to run out, so eos is made likely.
    model, z = tiny_model(seed=5, eos_bias=2.0), latents(6)
    assert z.shape == (B, Z) and model.output.out_features == V
    options = DecodingOptions.from_overrides({"max_len": 13})
    beams = beam_search(model, z, max_len=options.max_len, beam_size=options.beam_size,
                        length_normalization=options.length_normalization, **ENDS)
    assert beams == beam_search(model, z, max_len=13, **ENDS)
    sampled = sample_decode(model, z, max_len=options.max_len, temperature=options.temperature,
                            top_k=options.top_k, top_p=options.top_p,
                            generator=torch.Generator().manual_seed(7), **ENDS)
    assert sampled == sample_decode(model, z, max_len=13,
                                    generator=torch.Generator().manual_seed(7), **ENDS)


def test_overrides_replace_defaults_and_a_missing_method_means_the_default():
    options = DecodingOptions.from_overrides(
        {"method": "sample", "top_k": 3, "top_p": 0.9, "max_len": 11}
    )
    assert options.as_dict() == {**DOCUMENTED, "method": "sample", "top_k": 3, "top_p": 0.9,
                                 "max_len": 11}
    # A CLI flag left out arrives as method=None: the default method, not an error.
    assert DecodingOptions.from_overrides({"method": None, "max_len": 7}).method == "greedy"
    # Values are kept as given (0.7 stays a float exponent, not rounded or cast).
    assert DecodingOptions(method="beam", length_normalization=0.7).length_normalization == 0.7


@pytest.mark.parametrize(
    "option, bad, message",
    [
        ("method", "nucleus", "unknown decoding method 'nucleus'; valid: ['greedy', 'sample', 'beam']"),
        ("method", None, "unknown decoding method None"),
        ("max_len", 0, "max_len must be an integer >= 1"),
        ("max_len", 3.5, "max_len must be an integer >= 1"),
        ("max_len", True, "max_len must be an integer >= 1"),
        ("temperature", 0.0, "temperature must be a finite number > 0, got 0.0"),
        ("temperature", float("inf"), "temperature must be a finite number > 0, got inf"),
        ("top_k", 0, "top_k must be an integer >= 1 or None, got 0"),
        ("top_k", 2.0, "top_k must be an integer >= 1 or None, got 2.0"),
        ("top_p", 0.0, "top_p must be in (0, 1] or None, got 0.0"),
        ("top_p", 1.25, "top_p must be in (0, 1] or None, got 1.25"),
        ("beam_size", 0, "beam_size must be an integer >= 1, got 0"),
        ("beam_size", 3.0, "beam_size must be an integer >= 1, got 3.0"),
        ("length_normalization", -0.5, "length_normalization must be True, False or an exponent"),
        ("length_normalization", "yes", "length_normalization must be True, False or an exponent"),
    ],
)
def test_bad_values_raise_decoding_error_naming_the_option(option, bad, message):
    message = re.escape(message)  # today's messages, literally (they hold brackets)
    with pytest.raises(DecodingError, match=message) as info:
        DecodingOptions(**{option: bad})
    assert isinstance(info.value, ValueError) and isinstance(info.value, TextVAEError)
    with pytest.raises(DecodingError, match=message):
        check_decoding_options(**{option: bad})
    if not (option == "method" and bad is None):  # None is "the default method" in overrides
        with pytest.raises(DecodingError, match=message):
            DecodingOptions.from_overrides({option: bad})


def test_the_first_bad_option_in_field_order_is_named():
    with pytest.raises(DecodingError, match="max_len"):
        DecodingOptions(max_len=0, top_k=0, beam_size=0)
    with pytest.raises(DecodingError, match="top_k"):
        DecodingOptions(top_k=0, beam_size=0)


def test_options_are_frozen_and_replace_checks_again():
    options = DecodingOptions(method="beam", beam_size=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.beam_size = 0
    assert dataclasses.replace(options, max_len=7).as_dict()["beam_size"] == 9
    with pytest.raises(DecodingError, match="beam_size"):
        dataclasses.replace(options, beam_size=0)
    with pytest.raises(DecodingError, match="beam_size applies to method='beam'"):
        dataclasses.replace(options, method="greedy")  # the beams would be ignored
    assert hash(options) == hash(DecodingOptions(method="beam", beam_size=9))


def test_unknown_names_are_rejected_all_at_once_before_any_value_check():
    with pytest.raises(DecodingError) as info:
        DecodingOptions.from_overrides({"topk": 3, "beams": 2, "max_len": 0})
    assert str(info.value) == f"unknown decoding option(s) ['beams', 'topk']; valid: {NAMES}"
    with pytest.raises(DecodingError, match=r"unknown decoding option\(s\) \['seed'\]"):
        DecodingOptions.from_overrides({"seed": 1})


# ---------------------------------------------------------------- options the method ignores


@pytest.mark.parametrize(
    "method, option, value",
    [
        ("greedy", "beam_size", 3), ("sample", "beam_size", 1),
        ("greedy", "length_normalization", False), ("sample", "length_normalization", 0.5),
        ("greedy", "temperature", 0.7), ("beam", "temperature", 2.0),
        ("greedy", "top_k", 5), ("beam", "top_k", 1),
        ("greedy", "top_p", 0.9), ("beam", "top_p", 1.0),
    ],
)
def test_an_option_the_method_ignores_is_an_error_naming_both(method, option, value):
    owner = "beam" if option in ("beam_size", "length_normalization") else "sample"
    message = (f"{option} applies to method='{owner}'; {method} decoding ignores it (leave "
               f"{option} out, or use method='{owner}')")
    with pytest.raises(DecodingError) as info:
        DecodingOptions(method=method, **{option: value})
    assert str(info.value) == message
    with pytest.raises(DecodingError, match=re.escape(message)):
        DecodingOptions.from_overrides({"method": method, option: value})
    with pytest.raises(DecodingError, match=re.escape(message)):
        check_decoding_options(method=method, **{option: value})
    flag = "--" + option.replace("_", "-")
    with pytest.raises(DecodingError) as info:
        check_decoding_options(method=method, flags=True, **{option: value})
    assert str(info.value) == (f"{flag} applies to --method {owner}; {method} decoding ignores "
                               f"it (leave {flag} out, or use --method {owner})")
    # the method it belongs to takes it
    assert getattr(DecodingOptions(method=owner, **{option: value}), option) == value


@pytest.mark.parametrize("method", ["greedy", "sample", "beam"])
def test_the_defaults_never_count_as_ignored_options(method):
    # An LM baseline samples by default and a VAE decodes greedily: every method must take
    # every other option at its default value, spelled either way (1 is the temperature 1.0).
    options = DecodingOptions(method=method)
    assert options.as_dict() == {**DOCUMENTED, "method": method}
    check_decoding_options(**{**DOCUMENTED, "method": method}, flags=True)
    DecodingOptions(method=method, temperature=1, length_normalization=1.0, beam_size=5)


def test_out_of_range_values_are_named_before_ignored_ones():
    # --temperature 0 with greedy decoding: the value is wrong whatever the method
    with pytest.raises(DecodingError, match="temperature must be a finite number > 0"):
        check_decoding_options(temperature=0, flags=True)
