"""Tests for the Hugging Face tokenizer kind (textvae/text/data/tokenizers/hf.py). Every HF tokenizer is
built here from a few odd sentences and saved to tmp: no network."""

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.core.errors import CheckpointError, ConfigError
from textvae.text.data.tokenizers import HFTokenizer, Tokenizer, build_tokenizer, load_tokenizer

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

ODD = [
    "the quokka juggles seven marmalade jars",
    "a zebra hums; the quokka naps.",
    "seven jars, one zebra and no quokka!",
]


def _word_level(tmp_path, specials, name="tokenizer.json"):
    hf = tokenizers.Tokenizer(models.WordLevel(unk_token="[UNK]" if "[UNK]" in specials else None))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.train_from_iterator(ODD, trainers.WordLevelTrainer(special_tokens=specials))
    path = tmp_path / name
    hf.save(str(path))
    return hf, path


def _byte_bpe(tmp_path):
    """A GPT-2-like byte-level BPE whose only special is <|endoftext|>."""
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator(
        ODD,
        trainers.BpeTrainer(vocab_size=283, special_tokens=["<|endoftext|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    path = tmp_path / "bpe.json"
    hf.save(str(path))
    return hf, path


def test_bert_style_specials_first_keep_the_hf_ids(tmp_path):
    hf, path = _word_level(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[NL]"])
    tok = HFTokenizer.from_source(str(path))
    assert isinstance(tok, Tokenizer)
    assert tok.specials == {"pad": ("[PAD]", 0), "unk": ("[UNK]", 1), "bos": ("[CLS]", 2),
                            "eos": ("[SEP]", 3)}
    assert tok.vocab_size == hf.get_vocab_size() == 23  # 17 word types + 6 specials
    for sentence in ODD:
        assert tok.encode(sentence) == hf.encode(sentence).ids
        assert tok.decode(tok.encode(sentence)) == " ".join(tok.tokenize(sentence))


def test_specials_in_other_places_are_swapped_to_0_to_3_and_missing_ones_appended(tmp_path):
    # [SEP] at 0, [UNK] at 1, [PAD] at 2, no bos: <bos> is appended at id n = 20
    hf, path = _word_level(tmp_path, ["[SEP]", "[UNK]", "[PAD]"])
    tok = HFTokenizer.from_source(str(tmp_path))  # a directory holding tokenizer.json
    n = hf.get_vocab_size()
    assert n == 20 and tok.vocab_size == n + 1
    assert tok.specials == {"pad": ("[PAD]", 2), "unk": ("[UNK]", 1), "bos": ("<bos>", None),
                            "eos": ("[SEP]", 0)}
    # the permutation is a bijection onto 0..vocab_size-1 with the specials at 0..3
    words = [w for w in hf.get_vocab() if not w.startswith("[")]
    ids = [tok.encode(w) for w in words]
    assert all(len(i) == 1 for i in ids)
    assert sorted(i[0] for i in ids) == list(range(4, tok.vocab_size))
    # the token that sat at HF id 3 moved to the id that was vacated
    assert tok.encode(hf.id_to_token(3)) == [n]
    for sentence in ODD:
        assert tok.decode(tok.encode(sentence)) == hf.decode(hf.encode(sentence).ids)
    unknown = tok.encode("the yak")
    assert unknown[1] == tok.unk_id and tok.decode(unknown) == "the [UNK]"


def test_text_never_makes_pad_bos_or_eos_and_no_template_is_added(tmp_path):
    hf, path = _word_level(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    hf.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    hf.enable_padding(length=13, pad_id=0, pad_token="[PAD]")
    hf.enable_truncation(max_length=3)
    hf.save(str(path))
    tok = HFTokenizer.from_source(str(path))
    ids = tok.encode("zebra [SEP] naps [PAD] [CLS] quokka")
    assert len(ids) == 6 and ids.count(tok.unk_id) == 3  # no padding, truncation or template
    assert not {tok.pad_id, tok.bos_id, tok.eos_id} & set(ids)
    zebra, quokka = ids[0], ids[-1]
    raw = [tok.bos_id, zebra, tok.pad_id, quokka, tok.eos_id, zebra]
    assert tok.decode(raw) == "zebra quokka"


def test_byte_level_bpe_round_trip_and_appended_specials(tmp_path):
    hf, path = _byte_bpe(tmp_path)
    tok = HFTokenizer.from_source(str(path))
    n = hf.get_vocab_size()
    assert tok.vocab_size == n + 3  # pad, unk, bos appended; eos is <|endoftext|>
    assert tok.specials["eos"] == ("<|endoftext|>", 0)
    for sentence in [*ODD, "Unseen Words: 42 ÿ €!"]:
        ids = tok.encode(sentence)
        assert all(4 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == sentence
        assert len(tok.tokenize(sentence)) == len(ids)
    # an appended unk (the model cannot make one, but a decoder can) decodes as <unk>
    jars = tok.encode("jars")
    assert tok.decode([*jars, tok.unk_id, *jars]) == "jars <unk> jars"
    assert tok.encode("a<|endoftext|>b")[1] == tok.unk_id


def test_save_load_round_trip_is_self_contained(tmp_path):
    hf, path = _word_level(tmp_path, ["[SEP]", "[UNK]", "[PAD]"], name="mine.json")
    original = path.read_bytes()
    tok = build_tokenizer("hf", ["ignored: the hf kind is not trained"], hf_tokenizer=str(path))
    directory = tmp_path / "ckpt" / "tokenizer"
    tok.save(directory)
    assert {p.name for p in directory.iterdir()} == {"textvae_tokenizer.json", "hf_tokenizer.json"}
    assert (directory / "hf_tokenizer.json").read_bytes() == original
    path.unlink()  # the checkpoint needs nothing outside its directory
    loaded = load_tokenizer(directory)
    assert isinstance(loaded, HFTokenizer) and loaded.vocab_size == tok.vocab_size == 21
    assert loaded.specials == tok.specials
    for sentence in [*ODD, "the yak naps"]:
        assert loaded.encode(sentence) == tok.encode(sentence)
        assert loaded.decode(tok.encode(sentence)) == tok.decode(tok.encode(sentence))
    meta = json.loads((directory / "textvae_tokenizer.json").read_text())
    assert meta["type"] == "hf" and meta["source"] == str(path)


def test_missing_tokenizers_package_is_one_config_error(tmp_path, monkeypatch):
    _, path = _word_level(tmp_path, ["[UNK]"])
    tok = HFTokenizer.from_source(str(path))
    tok.save(tmp_path / "saved")
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # `import tokenizers` now fails
    with pytest.raises(ConfigError, match=r'pip install "textvae\[hf\]"'):
        build_tokenizer("hf", [], hf_tokenizer=str(path))
    with pytest.raises(ConfigError, match=r'pip install "textvae\[hf\]"'):
        load_tokenizer(tmp_path / "saved")


def test_clear_errors_for_missing_or_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="hf_tokenizer"):
        build_tokenizer("hf", ["a b"])
    with pytest.raises(ConfigError, match="not found"):
        build_tokenizer("hf", [], hf_tokenizer=str(tmp_path / "gone.json"))
    with pytest.raises(ConfigError, match="not found"):
        HFTokenizer.from_source("./nowhere/tokenizer.json")
    with pytest.raises(ConfigError, match="holds no tokenizer.json"):
        HFTokenizer.from_source(str(tmp_path))
    (tmp_path / "junk.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(ConfigError, match="not usable"):
        HFTokenizer.from_source(str(tmp_path / "junk.json"))


def test_a_bare_hf_tokenizer_json_is_not_taken_for_a_saved_textvae_tokenizer(tmp_path):
    _, path = _word_level(tmp_path, ["[UNK]"])
    with pytest.raises(CheckpointError, match="kind: hf"):
        load_tokenizer(tmp_path)


def test_a_corrupt_saved_hf_tokenizer_is_a_checkpoint_error(tmp_path):
    _, path = _word_level(tmp_path, ["[PAD]", "[UNK]"])
    saved = tmp_path / "saved"
    HFTokenizer.from_source(str(path)).save(saved)
    meta_path = saved / "textvae_tokenizer.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "specials": {**meta["specials"],
                                                          "unk": {"token": "[UNK]", "hf_id": 7}}}))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_tokenizer(saved)
    meta_path.write_text(json.dumps({**meta, "vocab_size": 999}))
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_tokenizer(saved)
    meta_path.write_text(json.dumps(meta))
    (saved / "hf_tokenizer.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_tokenizer(saved)
    (saved / "hf_tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_tokenizer(saved)


@pytest.fixture(scope="module")
def fuzz_toks(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_fuzz")
    return [HFTokenizer.from_source(str(p)) for p in
            (_word_level(directory, ["[SEP]", "[UNK]", "[PAD]"])[1], _byte_bpe(directory)[1])]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.binary(max_size=200), errors=st.sampled_from(["replace", "surrogateescape"]),
       ids=st.lists(st.integers(0, 19), max_size=11))
def test_fuzz_encode_decode_never_raise(fuzz_toks, data, errors, ids):
    text = data.decode("utf-8", errors=errors)  # lone surrogates included
    for tok in fuzz_toks:
        encoded = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in encoded)
        assert isinstance(tok.decode(encoded), str) and isinstance(tok.decode(ids), str)
