"""Tests for textvae.data.tokenizers: word vocabulary, SentencePiece, save/load, builder."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.data.tokenizers import (
    SentencePieceTokenizer,
    Tokenizer,
    WordTokenizer,
    build_tokenizer,
    load_tokenizer,
)
from textvae.errors import CheckpointError, ConfigError, DataError

PTB_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "ptb"


def _ptb_lines(name: str) -> list[str]:
    path = PTB_DIR / name
    if not path.is_file():
        pytest.skip(f"PTB not found at {path}: ../shared/data is only on the team's machines")
    return path.read_text(encoding="utf-8").splitlines()


def _synthetic_corpus(n_sentences: int, n_words: int, seed: int) -> list[str]:
    """Sentences of 3..17 pseudo-words over a lower-case ASCII alphabet (already NFKC-normal)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(n_words)})
    return [" ".join(rng.choices(words, k=rng.randint(3, 17))) for _ in range(n_sentences)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _synthetic_corpus(2003, 301, seed=0)


@pytest.fixture(scope="module")
def spm_unigram(corpus) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.build(corpus[:1801], vocab_size=251, model_type="unigram")


@pytest.fixture(scope="module")
def spm_bpe(corpus) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.build(corpus[:1801], vocab_size=199, model_type="bpe")


@pytest.fixture(scope="module")
def word_tok(corpus) -> WordTokenizer:
    return WordTokenizer.build(corpus[:1801])


# ---------------------------------------------------------------- word tokenizer


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


# ---------------------------------------------------------------- sentencepiece


@pytest.mark.parametrize("name, size", [("spm_unigram", 251), ("spm_bpe", 199)])
def test_spm_trains_with_exact_size_and_fixed_specials(request, name, size):
    tok = request.getfixturevalue(name)
    assert tok.vocab_size == size
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert isinstance(tok, Tokenizer)


@pytest.mark.parametrize("name", ["spm_unigram", "spm_bpe"])
def test_spm_round_trip_on_held_out_text(request, corpus, name):
    tok = request.getfixturevalue(name)
    for sentence in corpus[1801:]:
        ids = tok.encode(sentence)
        assert ids and all(4 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == sentence
        assert tok.decode([tok.bos_id, *ids, tok.eos_id, *ids, tok.pad_id]) == sentence
    assert len(tok.tokenize(corpus[-1])) == len(tok.encode(corpus[-1]))


def test_spm_unknown_characters_encode_to_unk(spm_unigram):
    assert spm_unigram.unk_id in spm_unigram.encode("abc \u4e2d")


def test_spm_too_large_vocab_reports_the_feasible_size():
    with pytest.raises(DataError, match=r"at most \d+; set tokenizer vocab_size <= \d+"):
        SentencePieceTokenizer.build(["ab ba", "abc"], vocab_size=5001, model_type="unigram")


def test_spm_bad_options():
    with pytest.raises(ConfigError, match="model_type"):
        SentencePieceTokenizer.build(["a b"], vocab_size=11, model_type="char")
    with pytest.raises(DataError, match="empty"):
        SentencePieceTokenizer.build(["", " "], vocab_size=11, model_type="bpe")


# ---------------------------------------------------------------- save / load


@pytest.mark.parametrize("name", ["word_tok", "spm_unigram", "spm_bpe"])
def test_save_load_round_trip_gives_identical_ids(request, tmp_path, corpus, name):
    tok = request.getfixturevalue(name)
    directory = tmp_path / "nested" / "tok"
    tok.save(directory)
    loaded = load_tokenizer(directory)
    assert type(loaded) is type(tok)
    assert loaded.vocab_size == tok.vocab_size
    held_out = [*corpus[1801:], "unseen words qqq ZZZ", ""]
    for sentence in held_out:
        assert loaded.encode(sentence) == tok.encode(sentence)
        assert loaded.decode(tok.encode(sentence)) == tok.decode(tok.encode(sentence))
    # only the plain files are written, no temporaries left behind
    expected = {"tokenizer.json"} | ({"spm.model"} if name.startswith("spm") else set())
    assert {p.name for p in directory.iterdir()} == expected
    assert json.loads((directory / "tokenizer.json").read_text())["type"] in (
        "word",
        "sentencepiece",
    )


def test_save_overwrites_an_existing_tokenizer(tmp_path):
    WordTokenizer.build(["a b c"]).save(tmp_path)
    WordTokenizer.build(["x y"]).save(tmp_path)
    assert load_tokenizer(tmp_path).tokens[4:] == ["x", "y"]


def test_load_missing_or_corrupt_directory(tmp_path, spm_bpe):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)

    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"type": "bytes", "format_version": 1}))
    with pytest.raises(CheckpointError, match="unknown|expected one of"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"type": "word", "format_version": 1}))
    with pytest.raises(CheckpointError, match="tokens"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(
        json.dumps(
            {
                "type": "word",
                "format_version": 1,
                "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a", "a"],
            }
        )
    )
    with pytest.raises(CheckpointError, match="duplicate"):
        load_tokenizer(tmp_path)

    spm_dir = tmp_path / "spm"
    spm_bpe.save(spm_dir)
    (spm_dir / "spm.model").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="spm.model is corrupt"):
        load_tokenizer(spm_dir)
    (spm_dir / "spm.model").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_tokenizer(spm_dir)


# ---------------------------------------------------------------- builder


def test_build_tokenizer_dispatch(corpus):
    word = build_tokenizer("word", corpus[:50], min_freq=1, max_size=23, unk_token=None)
    assert isinstance(word, WordTokenizer) and word.vocab_size == 27
    spm = build_tokenizer("sentencepiece", corpus[:400], vocab_size=61, model_type="bpe")
    assert isinstance(spm, SentencePieceTokenizer) and spm.vocab_size == 61
    with pytest.raises(ConfigError, match="expected one of"):
        build_tokenizer("char", corpus[:5])
    with pytest.raises(ConfigError, match="vocab_size"):
        build_tokenizer("sentencepiece", corpus[:5])


# ---------------------------------------------------------------- fuzz


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=st.text())
def test_fuzz_encode_decode_never_raise(word_tok, spm_unigram, spm_bpe, text):
    for tok in (word_tok, spm_unigram, spm_bpe):
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert isinstance(tok.decode(ids), str)
    # the word tokenizer is lossless up to whitespace for words it knows
    known = " ".join(w for w in text.split() if w in set(word_tok.tokens[4:]))
    assert word_tok.decode(word_tok.encode(known)) == known


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.binary(max_size=300), errors=st.sampled_from(["replace", "surrogateescape", "ignore"]))
def test_fuzz_random_bytes_encode_to_valid_ids(word_tok, spm_unigram, spm_bpe, data, errors):
    # Random bytes, decoded the ways a caller might: lone surrogates included.
    text = data.decode("utf-8", errors=errors)
    for tok in (word_tok, spm_unigram, spm_bpe):
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert isinstance(tok.decode(ids), str)


def _fuzz_dir(tmp_path_factory, spm_bpe):
    directory = tmp_path_factory.mktemp("fuzz_tok")
    spm_bpe.save(directory)
    return directory


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    target=st.sampled_from(["tokenizer.json", "spm.model"]),
    payload=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=200).map(lambda t: t.encode("utf-8")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode("utf-8")),
        # well-formed headers over random bodies reach the per-kind loaders
        st.fixed_dictionaries(
            {"type": st.sampled_from(["word", "sentencepiece"]), "format_version": st.just(1)},
            optional={
                "tokens": st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=8),
                "vocab_size": st.one_of(st.integers(), st.text(max_size=3)),
                "unk_token": st.one_of(st.none(), st.text(max_size=5), st.integers()),
            },
        ).map(lambda v: json.dumps(v).encode("utf-8")),
    ),
)
def test_fuzz_a_corrupt_saved_tokenizer_is_a_checkpoint_error(tmp_path_factory, spm_bpe, target, payload):
    directory = _fuzz_dir(tmp_path_factory, spm_bpe)
    (directory / target).write_bytes(payload)
    try:
        tok = load_tokenizer(directory)
    except CheckpointError as err:
        assert str(err)
    else:  # a payload that happens to be a valid tokenizer must behave like one
        assert all(0 <= i < tok.vocab_size for i in tok.encode("a b c"))
