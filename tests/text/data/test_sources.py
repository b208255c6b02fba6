"""Tests for textvae.text.data.sources: text files, datasets (local files; hub via a stub), max length."""

import json
from pathlib import Path

import pytest

from textvae.core.errors import ConfigError, DataError
from textvae.text.data import sources
from textvae.text.data.sources import SentenceList, apply_max_len, hold_out, read_hf, read_text_file

PTB_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "ptb"


# ---------------------------------------------------------------- text files


def test_text_file_strips_and_counts_blank_lines(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b" first line \n\n   \t\nsecond\r\n  third  words\n\n")
    result = read_text_file(path)
    assert result.sentences == ["first line", "second", "third  words"]  # inner spacing kept
    assert result.blank_lines == 3
    assert result.source == str(path)
    assert len(result) == 3


def test_text_file_without_final_newline_and_with_bom(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbfcaf\xc3\xa9 ol\xc3\xa9\nlast")
    assert read_text_file(str(path)).sentences == ["café olé", "last"]
    assert read_text_file(path).blank_lines == 0


def test_text_file_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1_corpus.txt"
    path.write_bytes(b"one\n\ntr\xe9s bien\nfour\n")
    with pytest.raises(DataError) as info:
        read_text_file(path)
    message = str(info.value)
    assert "latin1_corpus.txt, line 3:" in message
    assert "invalid UTF-8" in message and "re-encode" in message


def test_text_file_invalid_utf8_on_first_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\n")
    with pytest.raises(DataError, match="bad.txt, line 1:"):
        read_text_file(path)


@pytest.mark.parametrize("content, blanks", [(b"", 0), (b"\n  \n\t\n", 3)])
def test_text_file_without_sentences(tmp_path, content, blanks):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(
        DataError, match=rf"empty.txt contains no sentences \({blanks} blank lines\)"
    ):
        read_text_file(path)


def test_text_file_missing_or_directory(tmp_path):
    with pytest.raises(DataError, match=r"missing\.txt not found"):
        read_text_file(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_text_file(tmp_path)


@pytest.mark.parametrize(
    "name, n_lines", [("ptb.train.txt", 42068), ("ptb.valid.txt", 3370), ("ptb.test.txt", 3761)]
)
def test_ptb_files_read_unchanged(name, n_lines):
    path = PTB_DIR / name
    if not path.is_file():
        pytest.skip(f"PTB not found at {path}: ../shared/data is only on the team's machines")
    result = read_text_file(path)
    assert len(result.sentences) == n_lines
    assert result.blank_lines == 0
    raw = path.read_text(encoding="utf-8").splitlines()
    assert result.sentences == [line.strip() for line in raw]


# ---------------------------------------------------------------- datasets: local files


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "hf_cache"


def test_hf_text_builder(tmp_path, cache_dir):
    path = tmp_path / "lines.txt"
    path.write_text("hello world\n\n   \n second line \n", encoding="utf-8")
    result = read_hf("text", data_files=str(path), split="train", cache_dir=cache_dir)
    assert result.sentences == ["hello world", "second line"]
    assert result.blank_lines == 2
    assert "lines.txt" in result.source


def test_hf_jsonl_with_none_values_and_custom_column(tmp_path, cache_dir):
    path = tmp_path / "data.jsonl"
    rows = [
        {"id": 1, "body": "a b c"},
        {"id": 2, "body": None},
        {"id": 3, "body": "  "},
        {"id": 4, "body": " d e "},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = read_hf(
        "json", data_files=[path], split="valid", text_column="body", cache_dir=cache_dir
    )
    assert result.sentences == ["a b c", "d e"]
    assert result.blank_lines == 2  # one None, one whitespace-only


def test_hf_csv_with_empty_cell(tmp_path, cache_dir):
    path = tmp_path / "data.csv"
    path.write_text('id,sentence\n1,hello there\n2,\n3,"x, y"\n', encoding="utf-8")
    result = read_hf(
        "csv",
        data_files={"test": str(path)},
        split="test",
        text_column="sentence",
        cache_dir=cache_dir,
    )
    assert result.sentences == ["hello there", "x, y"]
    assert result.blank_lines == 1


def test_hf_parquet(tmp_path, cache_dir):
    import datasets

    path = tmp_path / "data.parquet"
    datasets.Dataset.from_dict({"text": ["p q", None, "", "r"], "n": [1, 2, 3, 4]}).to_parquet(
        str(path)
    )
    result = read_hf("parquet", data_files=str(path), split="train", cache_dir=cache_dir)
    assert result.sentences == ["p q", "r"]
    assert result.blank_lines == 2


def test_hf_streaming(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "s one"}\n{"text": null}\n{"text": "s two"}\n', encoding="utf-8")
    result = read_hf("json", data_files=str(path), streaming=True)
    assert result.sentences == ["s one", "s two"]
    assert result.blank_lines == 1
    with pytest.raises(DataError, match=r"no column 'body'; available columns: \['text'\]"):
        read_hf("json", data_files=str(path), streaming=True, text_column="body")


def test_hf_missing_column_lists_available(tmp_path, cache_dir):
    path = tmp_path / "data.jsonl"
    path.write_text('{"title": "t", "content": "c"}\n', encoding="utf-8")
    with pytest.raises(
        DataError, match=r"no column 'text'; available columns: \['title', 'content'\]"
    ):
        read_hf("json", data_files=str(path), cache_dir=cache_dir)


def test_hf_non_string_column_is_an_error(tmp_path, cache_dir):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok", "n": 5}\n', encoding="utf-8")
    with pytest.raises(DataError, match="row 0 holds a value of type int"):
        read_hf("json", data_files=str(path), text_column="n", cache_dir=cache_dir)


def test_hf_only_blank_values(tmp_path, cache_dir):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": ""}\n{"text": null}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"contains no sentences \(2 blank or missing values\)"):
        read_hf("json", data_files=str(path), cache_dir=cache_dir)


def test_hf_missing_local_file_names_it(tmp_path, cache_dir):
    missing = tmp_path / "absent.jsonl"
    with pytest.raises(DataError, match=r"data file .*absent\.jsonl not found"):
        read_hf("json", data_files=str(missing), cache_dir=cache_dir)
    with pytest.raises(DataError, match=r"no file matches .*\*\.csv"):
        read_hf("csv", data_files={"train": str(tmp_path / "*.csv")}, cache_dir=cache_dir)


def test_hf_invalid_local_file_is_a_data_error(tmp_path, cache_dir):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a"\n', encoding="utf-8")
    with pytest.raises(DataError, match="cannot load json files"):
        read_hf("json", data_files=str(path), cache_dir=cache_dir)


def test_hf_argument_errors(tmp_path):
    with pytest.raises(ConfigError, match="set data_files"):
        read_hf("json")
    path = tmp_path / "a.txt"
    path.write_text("x\n")
    with pytest.raises(ConfigError, match="single column named 'text'"):
        read_hf("text", data_files=str(path), text_column="body")
    with pytest.raises(ConfigError, match="no config name"):
        read_hf("text", config="en", data_files=str(path))
    with pytest.raises(ConfigError, match=r"split 'test' is not among .*\['train'\]"):
        read_hf("text", data_files={"train": str(path)}, split="test")


# ---------------------------------------------------------------- datasets: hub (stubbed)


def test_hf_hub_mode_calls_load_dataset_with_name_config_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return datasets.Dataset.from_dict(
            {"label": [0, 1, 2], "question": ["q one", None, "q two "]}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = read_hf(
        "someone/yahoo_answers", config="default", split="validation", text_column="question"
    )
    assert calls == [
        ("someone/yahoo_answers", "default", {"split": "validation", "streaming": False})
    ]
    assert isinstance(result, SentenceList)
    assert result.sentences == ["q one", "q two"]
    assert result.blank_lines == 1
    assert "someone/yahoo_answers (default)" in result.source


def test_hf_hub_errors_become_data_errors(monkeypatch):
    import datasets

    def not_found(path, name=None, **kwargs):
        raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", not_found)
    with pytest.raises(DataError, match="cannot load dataset nobody/nothing.*doesn't exist"):
        read_hf("nobody/nothing")

    def offline(path, name=None, **kwargs):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="Couldn't reach the Hub"):
        read_hf("someone/data", split="train")


def test_hf_restores_progress_bar_state(tmp_path, cache_dir):
    import datasets

    path = tmp_path / "a.txt"
    path.write_text("x\n")
    datasets.enable_progress_bars()
    read_hf("text", data_files=str(path), cache_dir=cache_dir)
    assert not datasets.are_progress_bars_disabled()


# ---------------------------------------------------------------- long sentences


def test_apply_max_len_truncate():
    seqs = [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10, 11, 12, 13]]
    out, affected = apply_max_len(seqs, 3, "truncate")
    assert out == [[1, 2, 3], [4, 5, 6], [9], [10, 11, 12]]
    assert affected == 2
    assert seqs[1] == [4, 5, 6, 7, 8]  # input untouched


def test_apply_max_len_drop():
    seqs = [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10, 11, 12, 13]]
    out, affected = apply_max_len(seqs, 3, "drop")
    assert out == [[1, 2, 3], [9]]
    assert affected == 2
    assert apply_max_len(seqs, 5, "drop") == (seqs, 0)
    assert apply_max_len([], 7, "truncate") == ([], 0)


def test_apply_max_len_bad_arguments():
    with pytest.raises(ConfigError, match="max_len"):
        apply_max_len([[1]], 0, "drop")
    with pytest.raises(ConfigError, match="policy"):
        apply_max_len([[1]], 3, "split")


def test_module_exports_local_builders():
    assert sources.LOCAL_BUILDERS == ("text", "json", "csv", "parquet")


def test_hold_out_splits_a_seeded_share_off_the_training_sentences():
    corpus = SentenceList([f"sentence {i}" for i in range(203)], 0, "f.txt")
    train, valid = hold_out(corpus, 0.1, seed=5)
    assert (len(train), len(valid)) == (183, 20)
    assert set(train.sentences).isdisjoint(valid.sentences)
    assert sorted(train.sentences + valid.sentences) == sorted(corpus.sentences)
    assert train.sentences == [s for s in corpus.sentences if s in set(train.sentences)]  # in order
    assert hold_out(corpus, 0.1, seed=5)[1].sentences == valid.sentences
    assert hold_out(corpus, 0.1, seed=6)[1].sentences != valid.sentences
    assert len(hold_out(SentenceList(["a", "b"], 0, "g"), 0.01, seed=0)[1]) == 1  # at least one


def test_hold_out_needs_two_sentences():
    with pytest.raises(DataError, match="at least 2"):
        hold_out(SentenceList(["only"], 0, "one.txt"), 0.5, seed=0)
