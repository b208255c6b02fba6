"""Tests for textvae.text.run.labelled_corpus: labelled splits from files, datasets and the grammar."""

import json
from pathlib import Path

import pytest

from textvae.core.errors import ConfigError, DataError, InputError
from textvae.core.label_sets import UNLABELLED, LabelSet, draw_per_class
from textvae.text.data.grammar import parse as grammar_parse
from textvae.text.data.labels import read_tsv
from textvae.text.run.config import DataConfig, LabelsConfig
from textvae.text.run.labelled_corpus import build_labelled_corpus, read_labelled

SHORT_YELP = Path(__file__).resolve().parents[3] / "data" / "short_yelp"

CLASSES = ("cat", "dog", "owl")
PER_CLASS = 7


def _quiet(message):
    pass


def _sentence(label, i):
    # Each sentence names its class and number, so a test can read its label back from it.
    return f"the {label} number w{i} sat there ."


def _labelled_lines():
    """3 classes x 7 sentences, interleaved (owl, cat, dog, owl, ...), as label<TAB>sentence."""
    lines = []
    for i in range(PER_CLASS):
        for label in ("owl", "cat", "dog"):
            lines.append(f"{label}\t{_sentence(label, i)}")
    return lines


def _label_of(sentence):
    return sentence.split()[1]


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.tsv"
    lines = _labelled_lines()
    long = "dog\t" + " ".join(["long"] * 40) + " ."  # 41 tokens: over max_len 13, dropped
    lines.insert(5, long)
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    valid = tmp_path / "valid.tsv"
    valid.write_text("owl\tan owl flew by .\ncat\ta cat sat .\n" + "dog\t" + " ".join(["long"] * 20)
                     + " .\n", encoding="utf-8")
    unlabelled = tmp_path / "more.txt"
    unlabelled.write_text("a zebra walked past .\ncat\tthe label here is ignored .\n\nquiet night .\n",
                          encoding="utf-8")
    return {"train": str(train), "valid": str(valid), "unlabelled": str(unlabelled), "dir": tmp_path}


def _data(files, **kw):
    kw.setdefault("max_len", 13)
    return DataConfig(source="text", train_path=files["train"], valid_path=files["valid"], **kw)


def _labels(**kw):
    kw.setdefault("factors", ["animal"])
    return LabelsConfig(**kw)


def _check_aligned(result, split):
    """Every labelled row's class is the one the sentence names (the file's label)."""
    sentences = result.corpus.sentences[split]
    rows = result.labels[split]
    assert len(sentences) == len(rows) == len(result.corpus.ids[split])
    for sentence, row in zip(sentences, rows, strict=True):
        if row != [UNLABELLED] and sentence.startswith("the "):
            assert result.label_set.value("animal", row[0]) == _label_of(sentence), sentence


def test_label_set_from_the_data_and_labels_aligned_after_the_max_len_drop(files):
    result = build_labelled_corpus(_data(files), _labels(), log=_quiet)
    assert result.label_set == LabelSet({"animal": CLASSES})  # values sorted, not in file order
    assert result.drawn is None
    train = result.corpus.sentences["train"]
    assert len(train) == 21  # the long sentence is dropped ...
    assert not any("long" in s for s in train)
    assert len(result.labels["train"]) == len(result.corpus.ids["train"]) == 21  # ... with its label
    assert all(len(ids) <= 13 for ids in result.corpus.ids["train"])
    _check_aligned(result, "train")
    assert [result.label_set.value("animal", row[0]) for row in result.labels["train"][:6]] == [
        "owl", "cat", "dog", "owl", "cat", "dog"]
    assert result.labelled_count() == 21
    # valid is whole (never dropped), its labels in file order.
    assert len(result.corpus.sentences["valid"]) == 3
    assert result.labels["valid"] == [[2], [0], [1]]
    assert result.labelled_count("valid") == 3
    assert result.tokenizer is result.corpus.tokenizer


def test_truncating_long_sentences_keeps_them_and_their_labels(files):
    result = build_labelled_corpus(_data(files, long_sentences="truncate"), _labels(), log=_quiet)
    assert len(result.labels["train"]) == len(result.corpus.ids["train"]) == 22
    assert result.labels["train"][5] == [1]  # the long dog sentence, truncated
    assert len(result.corpus.ids["train"][5]) == 13


def _drawn(seed):
    return _labels(mode="semi_supervised", labels_per_class=2, label_seed=seed)


def test_labels_per_class_draw_leaves_the_rest_unlabelled(files):
    result = build_labelled_corpus(_data(files), _drawn(3), log=_quiet)
    rows = result.labels["train"]
    assert result.labelled_count() == 6
    assert sum(1 for row in rows if row == [UNLABELLED]) == 15
    labelled_classes = sorted(row[0] for row in rows if row != [UNLABELLED])
    assert labelled_classes == [0, 0, 1, 1, 2, 2]
    _check_aligned(result, "train")
    # drawn: indices into the file's order (before the max_len drop): the same draw as by hand.
    sentences, found = read_tsv(files["train"], "animal")
    classes = [result.label_set.encode(x)[0] for x in found]
    assert result.drawn == draw_per_class(classes, 2, seed=3)
    assert len(result.drawn) == 6
    kept = {sentences[i] for i in result.drawn}
    train = result.corpus.sentences["train"]
    assert kept == {s for s, row in zip(train, rows, strict=True) if row != [UNLABELLED]}
    # valid keeps all its labels; another seed draws other sentences.
    assert result.labelled_count("valid") == 3
    other = build_labelled_corpus(_data(files), _drawn(4), log=_quiet)
    assert other.drawn != result.drawn
    again = build_labelled_corpus(_data(files), _drawn(3), log=_quiet)
    assert again.drawn == result.drawn and again.labels == result.labels


def test_labels_per_class_more_than_a_class_has(files):
    with pytest.raises(DataError, match="only 7 labelled examples, fewer than labels_per_class=8"):
        build_labelled_corpus(_data(files), _labels(mode="semi_supervised", labels_per_class=8), log=_quiet)


def test_unlabelled_path_appends_unlabelled_sentences_and_the_tokenizer_sees_them(files):
    labels = _labels(mode="semi_supervised", unlabelled_path=files["unlabelled"])
    result = build_labelled_corpus(_data(files), labels, log=_quiet)
    train = result.corpus.sentences["train"]
    assert train[-3:] == ["a zebra walked past .", "the label here is ignored .", "quiet night ."]
    assert result.labels["train"][-3:] == [[UNLABELLED]] * 3
    assert result.labelled_count() == 21
    assert len(train) == 24
    # The tokenizer is fit on labelled and unlabelled training text alike.
    tokenizer = result.tokenizer
    assert tokenizer.unk_id not in tokenizer.encode("zebra")
    assert tokenizer.unk_id in tokenizer.encode("giraffe")
    # A word only in the valid file is not in the vocabulary.
    assert tokenizer.unk_id in tokenizer.encode("flew")


def test_unlabelled_jsonl_uses_the_data_text_column(tmp_path):
    rows = [{"body": _sentence(c, i), "animal": c} for i in range(3) for c in CLASSES]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"body": "a zebra ran .", "animal": "cat"}) + "\n", encoding="utf-8")
    data = DataConfig(source="text", train_path=str(train), valid_fraction=0.3, text_column="body")
    labels = _labels(format="jsonl", mode="semi_supervised", unlabelled_path=str(more))
    result = build_labelled_corpus(data, labels, splits=("train",), log=_quiet)
    assert result.corpus.sentences["train"][-1] == "a zebra ran ."
    assert result.labels["train"][-1] == [UNLABELLED]


def test_conditional_mode_with_a_partly_labelled_file_says_how_many_are_not(files, tmp_path):
    path = tmp_path / "part.tsv"
    lines = _labelled_lines()
    for i in (2, 9, 16):
        lines[i] = lines[i].split("\t", 1)[1]  # no label
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = DataConfig(source="text", train_path=str(path), valid_path=files["valid"])
    with pytest.raises(DataError) as info:
        build_labelled_corpus(data, _labels(mode="conditional"), log=_quiet)
    message = str(info.value)
    assert "3 are not" in message
    assert "labels.mode conditional" in message and "animal" in message
    # semi_supervised takes the same file: 18 labelled, 3 not.
    result = build_labelled_corpus(data, _labels(mode="semi_supervised"), log=_quiet)
    assert result.labelled_count() == 18
    assert [i for i, row in enumerate(result.labels["train"]) if row == [UNLABELLED]] == [2, 9, 16]


def test_conditional_mode_with_unlabelled_path_is_an_error(files):
    with pytest.raises(DataError, match="3 are not"):
        build_labelled_corpus(_data(files), _labels(unlabelled_path=files["unlabelled"]), log=_quiet)


def test_valid_fraction_holds_out_labelled_sentences_aligned(files, tmp_path):
    path = tmp_path / "all.tsv"
    path.write_text("\n".join(_labelled_lines()) + "\n", encoding="utf-8")
    data = DataConfig(source="text", train_path=str(path), valid_fraction=0.3, split_seed=5)
    result = build_labelled_corpus(data, _labels(), log=_quiet)
    train, valid = result.corpus.sentences["train"], result.corpus.sentences["valid"]
    assert len(valid) == 6  # round(0.3 * 21)
    assert len(train) == 15
    assert set(train).isdisjoint(valid)
    assert sorted(train + valid) == sorted(line.split("\t")[1] for line in _labelled_lines())
    for split in ("train", "valid"):
        _check_aligned(result, split)
    # The same hold-out as read_labelled's, in file order.
    assert read_labelled(data, _labels(), "valid")[0] == valid
    assert read_labelled(data, _labels(), "train")[1] == [{"animal": _label_of(s)} for s in train]
    other = build_labelled_corpus(DataConfig(source="text", train_path=str(path), valid_fraction=0.3,
                                             split_seed=6), _labels(), log=_quiet)
    assert other.corpus.sentences["valid"] != valid


def test_a_checkpoints_label_set_and_tokenizer_for_valid_only(files):
    first = build_labelled_corpus(_data(files), _labels(), log=_quiet)
    # As from a checkpoint: another order of values than the data would give.
    label_set = LabelSet({"animal": ("owl", "dog", "cat", "bat")})
    result = build_labelled_corpus(_data(files), _labels(), tokenizer=first.tokenizer,
                                   label_set=label_set, splits=("valid",), log=_quiet)
    assert set(result.labels) == {"valid"}
    assert "train" not in result.corpus.ids
    assert result.label_set is label_set
    assert result.tokenizer is first.tokenizer
    assert result.labels["valid"] == [[0], [2], [1]]
    assert result.drawn is None
    assert len(result.corpus.ids["valid"][2]) == 21  # valid sentences are never dropped
    assert result.corpus.ids["valid"][1] == first.tokenizer.encode("a cat sat .")


def test_a_value_the_checkpoint_does_not_know(files):
    first = build_labelled_corpus(_data(files), _labels(), log=_quiet)
    label_set = LabelSet({"animal": ("cat", "dog")})
    with pytest.raises(InputError, match="known values of animal: cat, dog"):
        build_labelled_corpus(_data(files), _labels(), tokenizer=first.tokenizer, label_set=label_set,
                              splits=("valid",), log=_quiet)


def test_grammar_source_with_two_factors():
    data = DataConfig(source="grammar", grammar_size=300, grammar_seed=2, max_len=None)
    labels = _labels(factors=["tense", "mood"])
    result = build_labelled_corpus(data, labels, splits=("train", "valid", "test"), log=_quiet)
    assert result.label_set.names == ("tense", "mood")
    assert result.label_set.factors["tense"] == ("past", "present")
    assert result.label_set.factors["mood"] == ("question", "statement")
    assert sum(len(result.labels[s]) for s in ("train", "valid", "test")) == 300
    for split in ("train", "valid", "test"):
        for sentence, row in zip(result.corpus.sentences[split], result.labels[split], strict=True):
            parsed = grammar_parse(sentence)
            assert parsed is not None
            assert result.label_set.describe(row) == f"tense={parsed['tense']} mood={parsed['mood']}"


def test_grammar_negation_values_are_yes_no():
    data = DataConfig(source="grammar", grammar_size=300, grammar_seed=2, max_len=None)
    result = build_labelled_corpus(data, _labels(factors=["negation"]), log=_quiet)
    assert result.label_set.factors == {"negation": ("no", "yes")}
    for sentence, row in zip(result.corpus.sentences["train"], result.labels["train"], strict=True):
        expected = "yes" if grammar_parse(sentence)["negation"] else "no"
        assert result.label_set.value("negation", row[0]) == expected


def test_jsonl_labelled_run_with_a_missing_label(tmp_path):
    rows = [{"text": _sentence(c, i), "animal": c} for i in range(3) for c in CLASSES]
    rows[4]["animal"] = None
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = DataConfig(source="text", train_path=str(path), valid_path=str(path))
    result = build_labelled_corpus(data, _labels(format="jsonl", mode="semi_supervised"), log=_quiet)
    assert result.labels["train"][4] == [UNLABELLED]
    assert result.labelled_count() == 8
    _check_aligned(result, "train")


def test_hf_json_source_with_a_label_column(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    # read_labelled passes no cache_dir: keep the datasets cache in tmp_path.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    rows = [{"body": _sentence(c, i), "animal": c} for i in range(3) for c in CLASSES]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    valid = tmp_path / "valid.jsonl"
    valid.write_text(json.dumps({"body": "an owl .", "animal": "owl"}) + "\n", encoding="utf-8")
    data = DataConfig(source="hf", hf_name="json", text_column="body",
                      hf_data_files={"train": str(train), "validation": str(valid)})
    result = build_labelled_corpus(data, _labels(), log=_quiet)
    assert result.label_set.factors == {"animal": CLASSES}
    assert result.labels["valid"] == [[2]]
    _check_aligned(result, "train")
    missing = DataConfig(source="hf", hf_name="json", hf_data_files={"train": str(train)})
    with pytest.raises(ConfigError, match="no file for split 'validation'"):
        read_labelled(missing, _labels(), "valid")


@pytest.mark.parametrize(
    "labels, match",
    [
        (LabelsConfig(factors=[]), "labels.factors is empty"),
        (LabelsConfig(factors=["a", "b"], format="tsv"), "format tsv holds one label"),
    ],
)
def test_config_errors(files, labels, match):
    with pytest.raises(ConfigError, match=match):
        build_labelled_corpus(_data(files), labels, log=_quiet)


def test_a_split_without_a_file(files):
    data = DataConfig(source="text", train_path=files["train"])
    with pytest.raises(ConfigError, match="data.valid_path is not set"):
        build_labelled_corpus(data, _labels(), log=_quiet)
    with pytest.raises(ValueError, match="split must be one of"):
        read_labelled(data, _labels(), "dev")


def test_short_yelp_fifty_per_class():
    train = SHORT_YELP / "short_yelp.train.500.txt"
    if not train.is_file():
        pytest.skip(f"{train} is absent (data/short_yelp is on the team's machines and in CI only)")
    data = DataConfig(source="text", train_path=str(train), max_len=None)
    labels = LabelsConfig(factors=["sentiment"], mode="semi_supervised", labels_per_class=50)
    result = build_labelled_corpus(data, labels, splits=("train",), log=_quiet)
    assert result.label_set.factors == {"sentiment": ("0", "1")}
    assert len(result.labels["train"]) == 500
    assert result.labelled_count() == 100
    assert len(result.drawn) == 100
    assert sorted(result.labels["train"][i][0] for i in result.drawn) == [0] * 50 + [1] * 50
