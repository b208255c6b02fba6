"""Tests for building and loading tokenizers by kind (textvae/text/data/tokenizers/registry.py),
and for the files each kind saves."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.core.errors import CheckpointError, ConfigError, FileWriteError
from textvae.text.data.tokenizers import (
    SentencePieceTokenizer,
    WordTokenizer,
    build_tokenizer,
    load_tokenizer,
    tokenizer_fingerprint,
)


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
    expected = {"textvae_tokenizer.json"} | ({"spm.model"} if name.startswith("spm") else set())
    assert {p.name for p in directory.iterdir()} == expected
    assert json.loads((directory / "textvae_tokenizer.json").read_text())["type"] in (
        "word",
        "sentencepiece",
    )


def test_save_overwrites_an_existing_tokenizer(tmp_path):
    WordTokenizer.build(["a b c"]).save(tmp_path)
    WordTokenizer.build(["x y"]).save(tmp_path)
    assert load_tokenizer(tmp_path).tokens[4:] == ["x", "y"]


@pytest.mark.parametrize("name", ["word_tok", "spm_bpe"])
def test_failed_save_leaves_the_previous_tokenizer(request, tmp_path, monkeypatch, name):
    tok = request.getfixturevalue(name)
    WordTokenizer.build(["a b c"]).save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("textvae.core.files.os.replace", full_disk)
    with pytest.raises(FileWriteError, match="No space left"):
        tok.save(tmp_path)
    # The old tokenizer is intact and no temporary file is left behind.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    assert load_tokenizer(tmp_path).tokens[4:] == ["a", "b", "c"]


def test_load_missing_or_corrupt_directory(tmp_path, spm_bpe):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no textvae_tokenizer.json"):
        load_tokenizer(tmp_path)

    # (these write the metadata under its old name, tokenizer.json, which still loads)
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


def test_build_tokenizer_dispatch(corpus):
    word = build_tokenizer("word", corpus[:50], min_freq=1, max_size=23, unk_token=None)
    assert isinstance(word, WordTokenizer) and word.vocab_size == 27
    spm = build_tokenizer("sentencepiece", corpus[:400], vocab_size=61, model_type="bpe")
    assert isinstance(spm, SentencePieceTokenizer) and spm.vocab_size == 61
    with pytest.raises(ConfigError, match="expected one of"):
        build_tokenizer("char", corpus[:5])
    with pytest.raises(ConfigError, match="vocab_size"):
        build_tokenizer("sentencepiece", corpus[:5])


def _fuzz_dir(tmp_path_factory, spm_bpe):
    directory = tmp_path_factory.mktemp("fuzz_tok")
    spm_bpe.save(directory)
    return directory


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    target=st.sampled_from(["textvae_tokenizer.json", "tokenizer.json", "spm.model"]),
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
            {"type": st.sampled_from(["word", "sentencepiece", "hf"]), "format_version": st.just(1)},
            optional={
                "tokens": st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=8),
                "vocab_size": st.one_of(st.integers(), st.text(max_size=3)),
                "unk_token": st.one_of(st.none(), st.text(max_size=5), st.integers()),
                "lowercase": st.one_of(st.booleans(), st.integers(), st.none()),
                "split_punctuation": st.one_of(st.booleans(), st.text(max_size=3)),
                "specials": st.dictionaries(st.sampled_from(["pad", "unk", "bos", "eos"]),
                                            st.dictionaries(st.text(max_size=5), st.integers())),
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


@pytest.mark.parametrize("lowercase, split_punctuation", [(False, True), (True, False), (True, True)])
def test_word_options_round_trip_through_save_and_load(tmp_path, lowercase, split_punctuation):
    raw = ["The car, the CAR.", "A guitar? Home.", "Don't stop: 3.5 km."]
    tok = WordTokenizer.build(raw, lowercase=lowercase, split_punctuation=split_punctuation)
    tok.save(tmp_path)
    meta = json.loads((tmp_path / "textvae_tokenizer.json").read_text())
    assert (meta["lowercase"], meta["split_punctuation"]) == (lowercase, split_punctuation)
    loaded = load_tokenizer(tmp_path)
    assert (loaded.lowercase, loaded.split_punctuation) == (lowercase, split_punctuation)
    assert loaded.tokens == tok.tokens
    for sentence in [*raw, "THE Guitar, home?!", ""]:
        assert loaded.tokenize(sentence) == tok.tokenize(sentence)
        assert loaded.encode(sentence) == tok.encode(sentence)


def test_an_old_format_directory_still_loads_with_the_old_behaviour(tmp_path):
    # As textvae wrote it before the rename and the options: tokenizer.json, no option fields.
    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "the", "car,", "The"]
    (tmp_path / "tokenizer.json").write_text(
        json.dumps({"type": "word", "format_version": 1, "tokens": tokens})
    )
    old = load_tokenizer(tmp_path)
    assert isinstance(old, WordTokenizer) and old.tokens == tokens
    assert (old.lowercase, old.split_punctuation) == (False, False)
    assert old.encode("The car, the car") == [6, 5, 4, old.unk_id]
    # a new save beside it takes precedence; the old file is left alone
    WordTokenizer.build(["x y z"], lowercase=True).save(tmp_path)
    assert load_tokenizer(tmp_path).tokens[4:] == ["x", "y", "z"]
    assert json.loads((tmp_path / "tokenizer.json").read_text())["tokens"] == tokens


def test_a_corrupt_option_in_a_saved_word_tokenizer_is_a_checkpoint_error(tmp_path):
    WordTokenizer.build(["a b"]).save(tmp_path)
    path = tmp_path / "textvae_tokenizer.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "split_punctuation": "yes"}))
    with pytest.raises(CheckpointError, match="true/false"):
        load_tokenizer(tmp_path)
    path.write_text(json.dumps({**meta, "tokens": ["<pad>", "UNK", "<bos>", "<eos>"], "lowercase": True}))
    with pytest.raises(CheckpointError, match="lower case"):
        load_tokenizer(tmp_path)


def test_build_tokenizer_passes_the_word_options(corpus):
    tok = build_tokenizer("word", ["The car, the CAR."], lowercase=True, split_punctuation=True)
    assert tok.tokens[4:] == ["car", "the", ",", "."]
    # options of other kinds are ignored, as before
    assert build_tokenizer("sentencepiece", corpus[:400], vocab_size=61, lowercase=True).vocab_size == 61


def test_config_tokenizer_section_reaches_the_tokenizer(tmp_path):
    from textvae.text.run.config import load_config
    from textvae.text.run.corpus import build_corpus

    train = tmp_path / "train.txt"
    train.write_text("The car, the CAR.\nMy guitar? Home!\n")
    cfg = load_config(None, ["data.source=text", f"data.train_path={train}",
                             "data.tokenizer.lowercase=true", "data.tokenizer.split_punctuation=true",
                             "data.tokenizer.max_size=7"]).data
    tok = build_corpus(cfg, splits=("train",), log=lambda _: None).tokenizer
    assert (tok.lowercase, tok.split_punctuation, tok.vocab_size) == (True, True, 11)
    assert tok.tokens[4:6] == ["car", "the"]
    with pytest.raises(ConfigError, match="hf_tokenizer"):
        load_config(None, ["data.tokenizer.kind=hf"])


def test_the_fingerprint_tells_vocabularies_apart(tmp_path, corpus, word_tok, spm_unigram, spm_bpe):
    # A saved and reloaded copy, and one fit again on the same sentences, are the same tokenizer.
    word_tok.save(tmp_path / "word")
    spm_unigram.save(tmp_path / "spm")
    assert tokenizer_fingerprint(load_tokenizer(tmp_path / "word")) == tokenizer_fingerprint(word_tok)
    assert tokenizer_fingerprint(load_tokenizer(tmp_path / "spm")) == tokenizer_fingerprint(spm_unigram)
    assert tokenizer_fingerprint(WordTokenizer.build(corpus[:1801])) == tokenizer_fingerprint(word_tok)
    # Other sentences, other options or another kind: another fingerprint.
    prints = {tokenizer_fingerprint(t) for t in (
        word_tok, WordTokenizer.build(corpus[:1799]), WordTokenizer.build(corpus[:1801], lowercase=True),
        spm_unigram, spm_bpe)}
    assert len(prints) == 5
