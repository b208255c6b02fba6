"""Tests for the word tokenizer (textvae/text/data/tokenizers/word.py)."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.core.errors import ConfigError, DataError
from textvae.text.data.tokenizers import Tokenizer, WordTokenizer

PTB_DIR = Path(__file__).resolve().parents[5] / "shared" / "data" / "ptb"


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


# --- lowercase and split_punctuation: raw text -------------------------------------------------

RAW = [
    "The car, the CAR.",
    '"Hi," she said. "Home?"',
    "I don't sell guitars; I play my guitar!",
    "It costs 3.5 dollars, or 1,000 cents... maybe.",
]


def test_word_raw_text_lowercase_and_split_punctuation():
    tok = WordTokenizer.build(RAW, lowercase=True, split_punctuation=True)
    assert tok.tokenize("The car, the CAR.") == ["the", "car", ",", "the", "car", "."]
    the, car, comma, _, _, stop = tok.encode("The car, the CAR.")
    assert tok.encode("CAR car Car car.") == [car, car, car, car, stop]
    assert tok.encode("the THE") == [the, the]
    assert comma != stop and tok.unk_id not in tok.encode(" ".join(RAW))
    # no "car," "CAR." "guitar!" in the vocabulary; 28 word types + 4 specials
    assert not {"car,", "car.", "CAR.", "guitar!", "The"} & set(tok.tokens)
    assert tok.vocab_size == 32
    # decoding joins the words with single spaces; punctuation stays detached
    assert tok.decode(tok.encode('"Hi," she said.')) == '" hi , " she said .'


def test_word_options_are_off_by_default():
    plain = WordTokenizer.build(RAW)
    assert (plain.lowercase, plain.split_punctuation) == (False, False)
    assert plain.tokenize("The car, the CAR.") == ["The", "car,", "the", "CAR."]
    lower = WordTokenizer.build(RAW, lowercase=True)
    assert lower.tokenize("The car, the CAR.") == ["the", "car,", "the", "car."]
    split = WordTokenizer.build(RAW, split_punctuation=True)
    assert split.tokenize("The car, the CAR.") == ["The", "car", ",", "the", "CAR", "."]


@pytest.mark.parametrize(
    "text, words",
    [
        ("home.", ["home", "."]),
        ('"hi,', ['"', "hi", ","]),
        ("don't O'Brien rock’n’roll", ["don't", "O'Brien", "rock’n’roll"]),
        ("well-known -- x-ray-", ["well-known", "--", "x-ray", "-"]),
        ("'tis the dogs' bone", ["'", "tis", "the", "dogs", "'", "bone"]),
        ("3.5 1,000 10.0.1 3rd 7.", ["3.5", "1,000", "10.0.1", "3rd", "7", "."]),
        ("Wait... what?! (no)", ["Wait", "...", "what", "?", "!", "(", "no", ")"]),
        ("U.S. e-mail@x.org", ["U", ".", "S", ".", "e-mail", "@", "x", ".", "org"]),
        ("<unk>, a<unk> <eos>", ["<unk>", ",", "a", "<unk>", "<", "eos", ">"]),
        ("naïve café नमस्ते", ["naïve", "café", "नमस्ते"]),  # decomposed accents, vowel signs
        ("", []),
    ],
)
def test_word_punctuation_rules(text, words):
    tok = WordTokenizer.build(["x"], split_punctuation=True)
    assert tok.tokenize(text) == words


def test_word_lowercase_keeps_marks_in_the_word():
    tok = WordTokenizer.build(["x"], lowercase=True, split_punctuation=True)
    assert tok.tokenize("İSTANBUL, Ünïcode!") == ["i̇stanbul", ",", "ünïcode", "!"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(), lowercase=st.booleans())
def test_fuzz_split_punctuation_drops_and_invents_nothing(text, lowercase):
    tok = WordTokenizer.build(["x"], lowercase=lowercase, split_punctuation=True)
    words = tok.tokenize(text)
    expected = text.lower() if lowercase else text
    assert "".join(words) == "".join(expected.split())
    assert all(w and not any(c.isspace() for c in w) for w in words)
    assert len(tok.encode(text)) == len(words)


def test_word_options_with_unk_adoption_and_max_size():
    sentences = ["The <unk>, the end.", "<unk> ends THE story."]
    tok = WordTokenizer.build(
        sentences, unk_token="<unk>", lowercase=True, split_punctuation=True, max_size=5
    )
    # <unk> adopted whole (not cut into < unk >) and counted towards max_size
    assert tok.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "the", ".", ",", "end"]
    assert tok.encode("<unk>, THE END") == [tok.unk_id, 6, 4, 7]
    with pytest.raises(ConfigError, match="lower case"):
        WordTokenizer.build(sentences, unk_token="UNK", lowercase=True)
    with pytest.raises(ValueError, match="lower case"):
        WordTokenizer(["<pad>", "UNK", "<bos>", "<eos>"], lowercase=True)
    with pytest.raises(ConfigError, match="true/false"):
        WordTokenizer.build(sentences, split_punctuation="yes")
