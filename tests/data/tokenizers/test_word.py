"""Tests for the word tokenizer (textvae/data/tokenizers/word.py)."""

from pathlib import Path

import pytest

from textvae.data.tokenizers import Tokenizer, WordTokenizer
from textvae.errors import ConfigError, DataError

PTB_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "ptb"


def _ptb_lines(name: str) -> list[str]:
    path = PTB_DIR / name
    if not path.is_file():
        pytest.skip(f"PTB not found at {path}: ../shared/data is only on the team's machines")
    return path.read_text(encoding="utf-8").splitlines()


def test_word_specials_order_and_ids():
    tok = WordTokenizer.build(["b a a", "c a b"])
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c"]
    assert tok.vocab_size == 7
    assert isinstance(tok, Tokenizer)


def test_word_frequency_order_ties_alphabetical_and_deterministic():
    sentences = ["zeta beta", "alpha zeta", "gamma beta zeta", "delta"]
    tok = WordTokenizer.build(sentences)
    # zeta 3, beta 2, then the singletons alphabetically
    assert tok.tokens[4:] == ["zeta", "beta", "alpha", "delta", "gamma"]
    shuffled = list(reversed(sentences))
    assert WordTokenizer.build(shuffled).tokens == tok.tokens


def test_word_round_trip_and_unknown_words():
    tok = WordTokenizer.build(["the cat sat", "the dog ran"])
    ids = tok.encode("the cat ran")
    assert tok.decode(ids) == "the cat ran"
    assert tok.encode("the zebra") == [tok.encode("the")[0], tok.unk_id]
    assert tok.decode(tok.encode("  the\tcat \n")) == "the cat"  # whitespace split only
    assert tok.encode("The") == [tok.unk_id]  # no lower-casing
    assert tok.tokenize(" the  cat ") == ["the", "cat"]
    assert tok.encode("") == []


def test_word_decode_skips_pad_bos_and_stops_at_eos():
    tok = WordTokenizer.build(["x y z"])
    x, y, z = tok.encode("x y z")
    assert tok.decode([tok.bos_id, x, tok.pad_id, y, tok.eos_id, z, tok.pad_id]) == "x y"
    assert tok.decode([tok.eos_id, x]) == ""
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([x, tok.vocab_size])
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([-1])


def test_word_min_freq_and_max_size():
    sentences = ["a a a a b b b c c d", "e"]
    assert WordTokenizer.build(sentences, min_freq=2).tokens[4:] == ["a", "b", "c"]
    assert WordTokenizer.build(sentences, max_size=3).tokens[4:] == ["a", "b", "c"]
    assert WordTokenizer.build(sentences, min_freq=3, max_size=1).tokens[4:] == ["a"]
    tok = WordTokenizer.build(sentences, min_freq=2)
    assert tok.encode("d e a") == [tok.unk_id, tok.unk_id, 4]
    with pytest.raises(ConfigError, match="min_freq"):
        WordTokenizer.build(sentences, min_freq=0)
    with pytest.raises(ConfigError, match="max_size"):
        WordTokenizer.build(sentences, max_size=0)


def test_word_unk_adoption():
    sentences = ["a <unk> b", "<unk> a", "c"]
    adopted = WordTokenizer.build(sentences, unk_token="<unk>")
    assert adopted.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c"]
    assert adopted.encode("<unk> a zebra") == [adopted.unk_id, 4, adopted.unk_id]
    assert adopted.decode(adopted.encode("a <unk>")) == "a <unk>"
    # adopted unk counts as a data type towards max_size, and is kept whatever its frequency
    assert WordTokenizer.build(sentences, unk_token="<unk>", max_size=2).tokens[4:] == ["a"]
    assert WordTokenizer.build(["<unk> a a"], unk_token="<unk>", min_freq=2).tokens[4:] == ["a"]
    # a custom unk string that is absent from the data becomes the unknown special
    custom = WordTokenizer.build(["a b"], unk_token="UNK")
    assert custom.tokens[:4] == ["<pad>", "UNK", "<bos>", "<eos>"]
    assert custom.decode(custom.encode("a q")) == "a UNK"
    with pytest.raises(ConfigError, match="unk_token"):
        WordTokenizer.build(["a"], unk_token="<eos>")
    with pytest.raises(ConfigError, match="unk_token"):
        WordTokenizer.build(["a"], unk_token="two words")


def test_word_special_strings_in_data_map_to_unk():
    tok = WordTokenizer.build(["a <pad> b <eos>", "<bos> a <unk>"])
    assert tok.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]
    ids = tok.encode("a <eos> b <pad> <bos>")
    assert ids == [4, tok.unk_id, 5, tok.unk_id, tok.unk_id]
    assert tok.decode(ids) == "a <unk> b <unk> <unk>"  # a literal <eos> does not end the sentence


def test_word_build_on_no_words_is_a_data_error():
    with pytest.raises(DataError, match="no words"):
        WordTokenizer.build(["", "   "])


def test_word_ptb_vocabulary_is_the_standard_10k():
    train = _ptb_lines("ptb.train.txt")
    tok = WordTokenizer.build(train, unk_token="<unk>")
    # 9,999 training types (incl. <unk>) + <eos> = 10,000 vocabulary ids, plus <pad> and <bos>
    assert tok.vocab_size == 10_002
    assert tok.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert len(set(" ".join(train).split())) == 9_999
    for name in ("ptb.valid.txt", "ptb.test.txt"):
        lines = _ptb_lines(name)
        n_unk_words = sum(line.split().count("<unk>") for line in lines)
        n_unk_ids = sum(tok.encode(line).count(tok.unk_id) for line in lines)
        assert n_unk_ids == n_unk_words, f"{name} has words outside the PTB train vocabulary"
        assert all(tok.decode(tok.encode(line)) == " ".join(line.split()) for line in lines[:500])
