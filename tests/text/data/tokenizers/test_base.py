"""Tests for what every tokenizer kind shares (textvae/text/data/tokenizers/base.py): encode and
decode accept any text and any ids they produce."""

from hypothesis import given, settings
from hypothesis import strategies as st


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
