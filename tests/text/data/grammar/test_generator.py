"""Tests for sampling, splitting and writing the corpus (textvae/text/data/grammar/generator.py)."""

import json
from collections import Counter

import pytest

from textvae.core.errors import DataError, FileWriteError
from textvae.text.data.grammar import LEXICON, generate, grammar_splits, write_corpus
from textvae.text.data.grammar.generator import derive, smallest_corpus

from .helpers import big_sample, noun_numbers

LABEL_KEYS = {"topic", "tense", "number", "mood", "negation", "length"}


def test_length_distribution_covers_short_and_long_sentences():
    lengths = [s.labels["length"] for s in big_sample()]
    assert min(lengths) <= 6
    assert max(lengths) >= 20
    assert max(lengths) <= 25
    in_range = sum(5 <= n <= 20 for n in lengths) / len(lengths)
    assert in_range > 0.9


def test_generation_is_deterministic_in_the_seed():
    a = generate(257, seed=13)
    assert generate(257, seed=13) == a
    assert [s.text for s in generate(257, seed=14)] != [s.text for s in a]
    # A shorter run is a prefix of a longer one with the same seed.
    assert generate(31, seed=13) == a[:31]


def test_labels_match_the_text():
    noun_number = noun_numbers()
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
    sample = big_sample()[:20_001]
    for key in ("topic", "tense", "number", "mood", "negation"):
        counts = Counter(s.labels[key] for s in sample)
        assert len(counts) >= 2
        assert min(counts.values()) > 0.15 * len(sample), (key, counts)


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
    counts = write_corpus(tmp_path, n=5, seed=2, valid_fraction=0.0, test_fraction=0.0)
    assert counts == {"train": 5, "valid": 0, "test": 0}  # empty splits, asked for with 0
    assert (tmp_path / "valid.txt").read_text(encoding="utf-8") == ""
    assert len((tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()) == 5


def test_a_corpus_too_small_for_its_splits_is_refused_before_writing(tmp_path):
    with pytest.raises(DataError, match=r"^a grammar corpus of 5 sentences is too small to split: "
                       r"train 5, valid 0, test 0 \(valid 5%, test 5%\); every split needs a "
                       r"sentence, so give 11 sentences or more$"):
        write_corpus(tmp_path / "out", n=5, seed=2)
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match=r"^--n 13 is too small to split: train 13, valid 0, test 0 "
                       r"\(valid 3%, test 1%\); .* give --n 51 or more$"):
        grammar_splits(13, seed=0, valid_fraction=0.03, test_fraction=0.01, size_name="--n")
    with pytest.raises(DataError, match=r"^data.grammar_size=0 is too small .* give data.grammar_size=11 or more"):
        grammar_splits(0, seed=0, size_name="data.grammar_size")
    smallest = grammar_splits(11, seed=3)
    assert {k: len(v) for k, v in smallest.items()} == {"train": 9, "valid": 1, "test": 1}
    assert {k: len(v) for k, v in grammar_splits(51, 0, 0.03, 0.01).items()} == {"train": 48, "valid": 2, "test": 1}
    assert smallest_corpus(0.0, 0.0) == 1 and smallest_corpus(0.25, 0.0) == 3


def test_write_corpus_failure_leaves_the_previous_files(tmp_path, monkeypatch):
    write_corpus(tmp_path, n=97, seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("textvae.core.files.os.replace", full_disk)
    with pytest.raises(FileWriteError, match="No space left"):
        write_corpus(tmp_path, n=23, seed=2)
    # The old corpus is intact and no temporary file is left behind.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_corruption_annotations_come_from_the_generator():
    # drop_obligatory is counted on positions the generator marked, not assumed: check that
    # the marks exist and that optional ones really are optional words.
    optional_roles = Counter()
    for derivation in derive(501, seed=29):
        assert len(derivation.nodes) == len(derivation.words)
        for word, node in zip(derivation.words, derivation.nodes, strict=True):
            assert word in node.forms
            if node.optional:
                optional_roles[node.role] += 1
    assert set(optional_roles) == {"adj", "adv", "neg"}
