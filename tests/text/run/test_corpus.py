"""Splits from a data config: held-out validation, local copies of hub corpora, absolute paths,
and sentences given in memory."""

from pathlib import Path

import pytest

from textvae.core.errors import CheckpointError, ConfigError, DataError
from textvae.text.data.tokenizers import WordTokenizer, tokenizer_fingerprint
from textvae.text.run.config import load_config
from textvae.text.run.corpus import (
    build_corpus,
    given_sentences,
    load_sentences,
    with_absolute_paths,
)


def _write(path: Path, n: int) -> Path:
    path.write_text("".join(f"line {i} here\n" for i in range(n)))
    return path


def test_valid_fraction_holds_out_part_of_the_training_file(tmp_path):
    train = _write(tmp_path / "t.txt", 131)
    cfg = load_config(None, ["data.source=text", f"data.train_path={train}", "data.valid_fraction=0.2",
                             "data.split_seed=3"]).data
    kept, held = load_sentences(cfg, "train").sentences, load_sentences(cfg, "valid").sentences
    assert (len(kept), len(held)) == (105, 26)
    assert set(kept).isdisjoint(held)


def test_without_a_valid_file_or_fraction_the_error_says_what_to_set(tmp_path):
    cfg = load_config(None, ["data.source=text", f"data.train_path={_write(tmp_path / 't.txt', 9)}"]).data
    with pytest.raises(ConfigError, match="data.valid_path is not set.*valid_fraction"):
        load_sentences(cfg, "valid")
    with pytest.raises(ConfigError, match="valid_fraction must be in"):
        load_config(None, ["data.valid_fraction=1.0"])


def test_a_hub_corpus_reads_its_local_copy_when_there_is_one(tmp_path, monkeypatch):
    valid = _write(tmp_path / "v.txt", 17)
    cfg = load_config(None, ["data.source=hf", "data.hf_name=someone/corpus",
                             f"data.valid_path={valid}", "data.test_path=missing.txt"]).data

    def offline(*args, **kwargs):
        raise DataError("cannot load dataset someone/corpus: no network")

    monkeypatch.setattr("textvae.text.run.corpus.read_hf", offline)
    assert len(load_sentences(cfg, "valid")) == 17
    with pytest.raises(DataError, match="no network; nor is there a local copy at data.test_path=missing.txt"):
        load_sentences(cfg, "test")


def test_local_paths_become_absolute_and_others_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "t.txt", 3)
    cfg = load_config(None, ["data.source=text", "data.train_path=t.txt", "data.valid_path=gone.txt"]).data
    fixed = with_absolute_paths(cfg)
    assert fixed.train_path == str(tmp_path / "t.txt")
    assert fixed.valid_path == "gone.txt"


def test_sentences_given_in_memory_become_the_runs_text_files(tmp_path):
    cfg = load_config(None, [f"train.out_dir={tmp_path / 'run'}"])
    out = given_sentences(cfg, ["The cat sat.", "  ", "A dog\nbarked!"], None)
    assert out.data.source == "text" and out.data.valid_fraction == 0.1
    assert Path(out.data.train_path).read_text() == "The cat sat.\nA dog barked!\n"
    assert out.data.valid_path is None
    with_valid = given_sentences(cfg, ["a b", "c d"], ["e f"])
    assert Path(with_valid.data.valid_path).read_text() == "e f\n"


def test_a_dataset_gives_its_text_column(tmp_path):
    datasets = pytest.importorskip("datasets")
    cfg = load_config(None, [f"train.out_dir={tmp_path / 'run'}", "data.text_column=sentence"])
    table = datasets.Dataset.from_dict({"sentence": ["one two", "three four"], "label": [0, 1]})
    assert Path(given_sentences(cfg, table, None).data.train_path).read_text() == "one two\nthree four\n"
    with pytest.raises(DataError, match="no column 'text'"):
        given_sentences(load_config(None, [f"train.out_dir={tmp_path / 'r2'}"]), table, None)
    with pytest.raises(DataError, match="not one string"):
        given_sentences(cfg, "one sentence", None)
    with pytest.raises(DataError, match=r"train_sentences\[1\] is int"):
        given_sentences(cfg, ["fine", 3], None)


def test_from_run_reuses_the_runs_tokenizer_instead_of_fitting_one(tmp_path, monkeypatch):
    # A run directory as far as the tokenizer goes: best/tokenizer (best, else last).
    saved = WordTokenizer.build(["zebra yak .", "one two three four five six seven ."])
    saved.save(tmp_path / "run" / "best" / "tokenizer")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, ["data.grammar_size=200", "data.tokenizer.from_run=run"]).data
    notes: list[str] = []
    reused = build_corpus(cfg, splits=("train",), log=notes.append).tokenizer
    assert tokenizer_fingerprint(reused) == tokenizer_fingerprint(saved)
    assert reused.vocab_size == 4 + 10 and "the one saved with run, 14 ids" in notes[0]
    fitted = build_corpus(load_config(None, ["data.grammar_size=200"]).data, splits=("train",),
                          log=notes.append).tokenizer
    assert tokenizer_fingerprint(fitted) != tokenizer_fingerprint(saved)
    # The saved config names the run by its absolute path, so it reads from anywhere.
    assert with_absolute_paths(cfg).tokenizer.from_run == str(tmp_path / "run")
    missing = load_config(None, ["data.grammar_size=200", "data.tokenizer.from_run=nowhere"]).data
    with pytest.raises(CheckpointError, match="nowhere"):
        build_corpus(missing, splits=("train",), log=notes.append)
