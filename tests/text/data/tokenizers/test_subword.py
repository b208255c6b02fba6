"""Tests for the SentencePiece tokenizer (textvae/text/data/tokenizers/subword.py)."""

import pytest

from textvae.core.errors import ConfigError, DataError
from textvae.text.data.tokenizers import SentencePieceTokenizer, Tokenizer


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
