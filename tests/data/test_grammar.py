"""Tests for the built-in grammar corpus (textvae/data/grammar.py)."""

import json
from collections import Counter
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.data import grammar
from textvae.data.grammar import (
    CORRUPTIONS,
    LEXICON,
    TOPICS,
    corruption_report,
    format_corruption_report,
    generate,
    grammar_splits,
    is_grammatical,
    parse,
    vocabulary,
    write_corpus,
)
from textvae.errors import DataError

LABEL_KEYS = {"topic", "tense", "number", "mood", "negation", "length"}


@cache
def _big_sample() -> tuple:
    return tuple(generate(100_001, seed=3))


@cache
def _noun_number() -> dict[str, str]:
    """noun form -> "singular"/"plural", built straight from the lexicon tables."""
    table = {}
    for lex in LEXICON.values():
        for singular, plural in lex.nouns:
            table[singular] = "singular"
            table[plural] = "plural"
    return table


def test_every_generated_sentence_is_grammatical_and_parses_to_its_labels():
    sample = _big_sample()
    rejected = [s.text for s in sample if not is_grammatical(s.text)]
    assert rejected == []
    # The parse reads the labels back from the text alone (every word form has one slot).
    assert all(parse(s.text) == s.labels for s in sample[:20_001])


def test_vocabulary_is_exactly_what_the_generator_emits():
    vocab = vocabulary()
    counts = Counter(tok for s in _big_sample() for tok in s.text.split(" "))
    assert set(counts) == vocab  # nothing outside, and no dead lexicon entries
    assert len(vocab) >= 300
    assert len(TOPICS) >= 3


def test_topics_are_lexically_disjoint():
    words = [lex.content_words() for lex in LEXICON.values()]
    assert sum(len(w) for w in words) == len(frozenset().union(*words))


def test_length_distribution_covers_short_and_long_sentences():
    lengths = [s.labels["length"] for s in _big_sample()]
    assert min(lengths) <= 6
    assert max(lengths) >= 20
    assert max(lengths) <= 25
    in_range = sum(5 <= n <= 20 for n in lengths) / len(lengths)
    assert in_range > 0.9


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


def test_generation_is_deterministic_in_the_seed():
    a = generate(257, seed=13)
    assert generate(257, seed=13) == a
    assert [s.text for s in generate(257, seed=14)] != [s.text for s in a]
    # A shorter run is a prefix of a longer one with the same seed.
    assert generate(31, seed=13) == a[:31]


def test_labels_match_the_text():
    noun_number = _noun_number()
    topic_of = {w: t for t, lex in LEXICON.items() for w in lex.content_words()}
    past_forms = {v.past for lex in LEXICON.values() for v in lex.transitive + lex.intransitive}
    third_forms = {v.third for lex in LEXICON.values() for v in lex.transitive + lex.intransitive}
    checked_tense = 0
    for s in generate(3001, seed=17):
        tokens = s.text.split(" ")
        labels = s.labels
        assert set(labels) == LABEL_KEYS
        assert labels["length"] == len(tokens)
        assert (tokens[-1] == "?") == (labels["mood"] == "question")
        assert tokens[-1] in {".", "?"}
        assert labels["negation"] == ("not" in tokens)
        assert {topic_of[t] for t in tokens if t in topic_of} == {labels["topic"]}
        # The subject's head noun is the first noun in every template.
        first_noun = next(t for t in tokens if t in noun_number)
        assert noun_number[first_noun] == labels["number"]
        expected_aux = {
            ("past", "singular"): "did",
            ("past", "plural"): "did",
            ("present", "singular"): "does",
            ("present", "plural"): "do",
        }[labels["tense"], labels["number"]]
        if labels["mood"] == "question":
            assert tokens[0] == expected_aux
        elif labels["negation"]:
            assert f"{expected_aux} not" in s.text
        else:
            assert not {"did", "does", "do"} & set(tokens)
            # With no modifier on the subject, the main verb follows its head noun.
            verb = tokens[tokens.index(first_noun) + 1]
            if verb in past_forms or verb in third_forms:
                checked_tense += 1
                assert (verb in past_forms) == (labels["tense"] == "past")
                if labels["tense"] == "present":
                    assert (verb in third_forms) == (labels["number"] == "singular")
    assert checked_tense > 500


def test_labels_are_roughly_balanced():
    sample = _big_sample()[:20_001]
    for key in ("topic", "tense", "number", "mood", "negation"):
        counts = Counter(s.labels[key] for s in sample)
        assert len(counts) >= 2
        assert min(counts.values()) > 0.15 * len(sample), (key, counts)


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


def test_grammar_splits_partition_the_generated_sentences():
    splits = grammar_splits(403, seed=19, valid_fraction=0.05, test_fraction=0.1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 343, "valid": 20, "test": 40}
    assert splits["train"] + splits["valid"] + splits["test"] == generate(403, seed=19)


@pytest.mark.parametrize("fractions", [(-0.1, 0.1), (0.1, -0.1), (0.5, 0.5), (0.9, 0.3)])
def test_grammar_splits_rejects_bad_fractions(fractions):
    with pytest.raises(DataError):
        grammar_splits(11, seed=0, valid_fraction=fractions[0], test_fraction=fractions[1])


def test_negative_size_is_an_error():
    with pytest.raises(DataError):
        generate(-1, seed=0)


def test_write_corpus_writes_six_matching_files(tmp_path):
    out = tmp_path / "nested" / "grammar"
    counts = write_corpus(out, n=211, seed=23, valid_fraction=0.05, test_fraction=0.07)
    assert sum(counts.values()) == 211
    assert counts == {"train": 185, "valid": 11, "test": 15}
    splits = grammar_splits(211, seed=23, valid_fraction=0.05, test_fraction=0.07)
    expected_files = {f"{s}{ext}" for s in counts for ext in (".txt", ".labels.jsonl")}
    assert {p.name for p in out.iterdir()} == expected_files  # no temp files left behind
    for split, n in counts.items():
        lines = (out / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        records = [
            json.loads(line)
            for line in (out / f"{split}.labels.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert len(lines) == len(records) == n
        assert lines == [s.text for s in splits[split]]
        assert records == [{"text": s.text, **s.labels} for s in splits[split]]


def test_write_corpus_overwrites_and_handles_empty_splits(tmp_path):
    write_corpus(tmp_path, n=97, seed=1)
    counts = write_corpus(tmp_path, n=5, seed=2)
    assert counts == {"train": 5, "valid": 0, "test": 0}
    assert (tmp_path / "valid.txt").read_text(encoding="utf-8") == ""
    assert len((tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()) == 5


def test_corruption_annotations_come_from_the_generator():
    # drop_obligatory is counted on positions the generator marked, not assumed: check that
    # the marks exist and that optional ones really are optional words.
    optional_roles = Counter()
    for derivation in grammar._derive(501, seed=29):
        assert len(derivation.nodes) == len(derivation.words)
        for word, node in zip(derivation.words, derivation.nodes, strict=True):
            assert word in node.forms
            if node.optional:
                optional_roles[node.role] += 1
    assert set(optional_roles) == {"adj", "adv", "neg"}
