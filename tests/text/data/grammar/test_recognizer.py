"""Tests for recognizing grammar sentences (textvae/text/data/grammar/recognizer.py)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.text.data.grammar import is_grammatical, parse, vocabulary

from .corruption import CORRUPTIONS, corruption_report, format_corruption_report
from .helpers import big_sample


def test_every_generated_sentence_is_grammatical_and_parses_to_its_labels():
    sample = big_sample()
    rejected = [s.text for s in sample if not is_grammatical(s.text)]
    assert rejected == []
    # The parse reads the labels back from the text alone (every word form has one slot).
    assert all(parse(s.text) == s.labels for s in sample[:20_001])


@pytest.mark.parametrize(
    "sentence",
    [
        "the furry dog chased the cats .",
        "the dog did not chase the cats .",
        "the dogs do not chase the cat .",
        "did the dog chase the cats ?",
        "does the dog chase the cat ?",
        "do the dogs not sleep ?",
        "the dog slept .",
        "the fierce dog that chases the mice bit some cats near the owls yesterday .",
        "these chefs that rose boil the onions .",
        "every player runs behind the nets every day .",
    ],
)
def test_accepts_grammar_sentences(sentence):
    assert is_grammatical(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "",
        " ",
        ".",
        "the dog chased the cats",  # no final punctuation
        "the dog chased the cats ?",  # statement word order with "?"
        "did the dog chased the cats ?",  # inflected verb after did
        "the dogs chases the cat .",  # agreement
        "the dog chase the cat .",
        "does the dogs chase the cat ?",
        "these dog chased the cat .",
        "the dog that chase the cats slept .",  # relative clause agrees with its head
        "the dog chased the onions .",  # mixed topics
        "the big dog chased the cats .",  # "big" is in no topic's lexicon
        "the dog did chase the cats .",  # "did" needs "not"
        "the dog not chased the cats .",
        "the dog slept the cat .",  # intransitive verb with an object
        "the dog chased .",  # transitive verb without one
        "the furry furry dog slept .",
        "the dog slept yesterday today .",
        "the dog sleeps yesterday .",  # adverb of the wrong tense
        "the dog that chases the mice near the owls slept .",  # no PP inside a relative clause
        " the dog slept .",
        "the dog slept . ",
        "the  dog slept .",
        "the dog slept .\n",
        "the\tdog slept .",
        "The dog slept .",
    ],
)
def test_rejects_non_sentences(sentence):
    assert not is_grammatical(sentence)


def test_corruptions_are_rejected_at_the_required_rates():
    report = corruption_report(n=3001, seed=11)
    assert set(report) == set(CORRUPTIONS)
    for kind in ("swap", "duplicate", "foreign_word"):
        assert report[kind]["tried"] > 2900
        assert report[kind]["rejection_rate"] >= 0.99, kind
    for kind in ("drop_obligatory", "agreement_flip"):
        assert report[kind]["tried"] > 2000
        assert report[kind]["rejected"] == report[kind]["tried"], report[kind]
        assert report[kind]["rejection_rate"] == 1.0
    # Dropping an optional word (an adjective, say) stays grammatical, so raw drops are lower.
    drop = report["drop"]
    assert 0.5 < drop["rejection_rate"] < 1.0
    for example in drop["accepted_examples"]:
        assert is_grammatical(example["corrupted"])
        assert example["reason"].startswith("dropped optional")


def test_format_corruption_report_lists_every_kind():
    report = corruption_report(n=37, seed=5)
    text = format_corruption_report(report)
    for kind in CORRUPTIONS:
        assert kind in text
    assert text.count("\n") >= len(CORRUPTIONS)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text())
def test_recognizer_never_raises_on_text(text):
    assert is_grammatical(text) in (True, False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary())
def test_recognizer_never_raises_on_decoded_bytes(data):
    assert is_grammatical(data.decode("utf-8", errors="replace")) in (True, False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(sorted(vocabulary())), max_size=25))
def test_recognizer_never_raises_on_word_salad(tokens):
    sentence = " ".join(tokens)
    assert is_grammatical(sentence) == (parse(sentence) is not None)


def test_recognizer_rejects_non_strings():
    assert not is_grammatical(None)  # type: ignore[arg-type]
    assert not is_grammatical(b"the dog slept .")  # type: ignore[arg-type]
