"""Tests for textvae.core.label_sets (the label set, the seeded few-label draw), textvae.text.data.labels (the readers) and the
labelled parts of textvae.text.data.sources (held_out_indices, read_hf with label_columns)."""

import json
import random

import pytest

from textvae.core.errors import DataError, InputError
from textvae.core.label_sets import UNLABELLED, LabelSet, draw_per_class
from textvae.text.data.grammar import grammar_splits
from textvae.text.data.grammar import parse as grammar_parse
from textvae.text.data.labels import (
    GRAMMAR_FACTORS,
    grammar_records,
    read_jsonl,
    read_tsv,
    records_from_columns,
)
from textvae.text.data.sources import held_out_indices, read_hf

SENTIMENT = LabelSet({"sentiment": ("neg", "neutral", "pos")})
GRAMMAR = LabelSet({"tense": ("past", "present"), "mood": ("question", "statement", "wish")})


# ---------------------------------------------------------------- LabelSet


def test_names_sizes_index_value_and_encode():
    assert GRAMMAR.names == ("tense", "mood")
    assert GRAMMAR.sizes == (2, 3)
    assert GRAMMAR.index("mood", "wish") == 2
    assert GRAMMAR.value("tense", 1) == "present"
    assert GRAMMAR.encode({"tense": "present", "mood": "question"}) == [1, 0]
    assert GRAMMAR.encode({"mood": "statement"}) == [UNLABELLED, 1]  # a missing factor
    assert GRAMMAR.encode({"tense": None, "mood": "wish"}) == [UNLABELLED, 2]
    assert GRAMMAR.encode(None) == [UNLABELLED, UNLABELLED]
    assert LabelSet({"n": ("1", "2", "10")}).encode({"n": 10}) == [2]  # a number matches its string


def test_unknown_value_is_one_input_error_listing_the_known_values():
    with pytest.raises(InputError) as info:
        SENTIMENT.index("sentiment", "angry")
    message = str(info.value)
    assert "sentiment=angry" in message
    assert "neg, neutral, pos" in message
    with pytest.raises(InputError, match="neg, neutral, pos"):
        SENTIMENT.encode({"sentiment": "angry"})
    with pytest.raises(InputError, match="question, statement, wish"):
        GRAMMAR.parse(["tense=past", "mood=exclamation"])


def test_unknown_factor_lists_the_known_factors():
    with pytest.raises(InputError) as info:
        GRAMMAR.index("topic", "music")
    assert "'topic'" in str(info.value)
    assert "tense, mood" in str(info.value)
    with pytest.raises(InputError, match="tense, mood"):
        GRAMMAR.parse(["topic=music"])


def test_parse_assignments():
    assert GRAMMAR.parse(["tense=past"]) == {"tense": 0}
    assert GRAMMAR.parse([" mood = wish ", "tense=present"]) == {"mood": 2, "tense": 1}
    assert GRAMMAR.parse([]) == {}
    assert SENTIMENT.parse(["pos"]) == {"sentiment": 2}  # a bare value: the one factor
    assert SENTIMENT.parse(["sentiment=neutral"]) == {"sentiment": 1}


def test_parse_a_factor_given_twice_is_an_error():
    with pytest.raises(InputError, match="'tense' is given twice"):
        GRAMMAR.parse(["tense=past", "tense=present"])
    with pytest.raises(InputError, match="given twice"):
        SENTIMENT.parse(["pos", "sentiment=neg"])  # bare and named: the same factor


def test_parse_a_bare_value_with_several_factors_is_an_error():
    with pytest.raises(InputError) as info:
        GRAMMAR.parse(["past"])
    assert "'past' names no factor" in str(info.value)
    assert "tense, mood" in str(info.value)


def test_describe():
    assert GRAMMAR.describe([0, 2]) == "tense=past mood=wish"
    assert SENTIMENT.describe([1]) == "sentiment=neutral"
    with pytest.raises(ValueError):
        GRAMMAR.describe([0])  # one id per factor


def test_to_dict_from_dict_round_trip_through_json():
    data = json.loads(json.dumps(GRAMMAR.to_dict()))
    assert data == {"tense": ["past", "present"], "mood": ["question", "statement", "wish"]}
    again = LabelSet.from_dict(data)
    assert again == GRAMMAR
    assert again.names == GRAMMAR.names  # factor order kept
    assert LabelSet.from_dict({"n": [3, 1]}).factors == {"n": ("3", "1")}  # values as strings


@pytest.mark.parametrize(
    "factors, match",
    [
        ({}, "at least one factor"),
        ({"sentiment": ("pos",)}, "'sentiment' has 1 value"),
        ({"sentiment": ("pos", "neg", "pos")}, "lists a value twice"),
    ],
)
def test_invalid_label_sets(factors, match):
    with pytest.raises(DataError, match=match):
        LabelSet(factors)


def test_from_records_sorts_values_numbers_by_value():
    records = [{"n": "10", "w": "b"}, None, {"n": "2"}, {"n": "-3", "w": "a"}, {"n": "2.5", "w": "c"},
               {"n": None, "w": "b"}, {"n": "x"}]
    label_set = LabelSet.from_records(records, ["n", "w"])
    assert label_set.factors == {"n": ("-3", "2", "2.5", "10", "x"), "w": ("a", "b", "c")}
    # The same values in another order give the same class ids.
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    assert LabelSet.from_records(reversed(shuffled), ["n", "w"]) == label_set
    assert list(label_set.names) == ["n", "w"]  # factors in the order asked, not seen


def test_from_records_order_with_nan_does_not_depend_on_the_input_order():
    values = ["b", "nan", "2", "1", "a", "10"]
    orders = {LabelSet.from_records([{"y": v} for v in shuffled], ["y"]).factors["y"]
              for shuffled in (values, values[::-1], values[2:] + values[:2], values[3:] + values[:3])}
    assert orders == {("1", "2", "10", "a", "b", "nan")}  # "nan" sorts with the words


def test_from_records_with_a_factor_never_seen_is_an_error():
    with pytest.raises(DataError, match="'w' has 0 value"):
        LabelSet.from_records([{"n": "1"}, {"n": "2"}], ["n", "w"])


# ---------------------------------------------------------------- draw_per_class


def _classes(per_class=(7, 9, 11), unlabelled=5, seed=0):
    labels = [c for c, n in enumerate(per_class) for _ in range(n)] + [UNLABELLED] * unlabelled
    random.Random(seed).shuffle(labels)
    return labels


def test_draw_per_class_is_balanced_sorted_and_never_unlabelled():
    labels = _classes()
    drawn = draw_per_class(labels, 2, seed=5)
    assert drawn == sorted(drawn)
    assert len(drawn) == len(set(drawn)) == 6
    assert all(labels[i] != UNLABELLED for i in drawn)
    assert sorted(labels[i] for i in drawn) == [0, 0, 1, 1, 2, 2]


def test_draw_per_class_same_seed_same_draw_other_seed_other_draw():
    labels = _classes()
    assert draw_per_class(labels, 3, seed=7) == draw_per_class(list(labels), 3, seed=7)
    draws = {tuple(draw_per_class(labels, 3, seed=s)) for s in range(5)}
    assert len(draws) == 5
    assert draw_per_class(labels, 3, seed=7) != draw_per_class(labels, 3, seed=8)


def test_draw_per_class_of_one_class_does_not_depend_on_the_others():
    labels = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    more_ones = labels + [1, 1, 1, 1, 1]
    zeros = [i for i in draw_per_class(labels, 2, seed=1) if labels[i] == 0]
    assert zeros == [i for i in draw_per_class(more_ones, 2, seed=1) if more_ones[i] == 0]


def test_draw_all_of_a_class():
    labels = [2, 0, 1, 0, 2, UNLABELLED, 1]
    assert draw_per_class(labels, 2, seed=0) == [0, 1, 2, 3, 4, 6]


def test_draw_per_class_with_too_few_examples_names_the_class():
    labels = _classes(per_class=(7, 3, 11))
    with pytest.raises(DataError) as info:
        draw_per_class(labels, 4, seed=0)
    message = str(info.value)
    assert "class 1 has only 3" in message
    assert "labels_per_class=4" in message


@pytest.mark.parametrize("per_class", [0, -2])
def test_draw_per_class_needs_a_positive_count(per_class):
    with pytest.raises(DataError, match="must be positive"):
        draw_per_class([0, 1, 0, 1], per_class, seed=0)


# ---------------------------------------------------------------- read_tsv


def test_tsv_lines_without_a_label_are_unlabelled_and_kept_in_order(tmp_path):
    path = tmp_path / "part.tsv"
    path.write_text(
        "pos\tthe soup was  great .\n"
        "a line with no tab\n"
        "\n"
        "neg\t bad service \n"
        "\tan empty label is no label\n"
        "neutral\tit was food .\r\n"
        "   \n"
        "last line unlabelled too",
        encoding="utf-8",
    )
    sentences, labels = read_tsv(path, "sentiment")
    assert sentences == ["the soup was great .", "a line with no tab", "bad service",
                         "an empty label is no label", "it was food .", "last line unlabelled too"]
    assert labels == [{"sentiment": "pos"}, None, {"sentiment": "neg"}, None, {"sentiment": "neutral"}, None]


def test_tsv_label_without_a_sentence_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("pos\tfine .\n\nneg\tgood\nneg\t   \npos\tmore\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:4: a label with no sentence"):
        read_tsv(path, "sentiment")


def test_tsv_missing_file(tmp_path):
    with pytest.raises(DataError, match="labelled file not found: .*nowhere.tsv"):
        read_tsv(tmp_path / "nowhere.tsv", "sentiment")


def test_tsv_invalid_utf8(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"pos\tok\nneg\ttr\xe9s mal\n")
    with pytest.raises(DataError, match="latin1.tsv is not UTF-8"):
        read_tsv(path, "sentiment")


def test_tsv_without_sentences(tmp_path):
    path = tmp_path / "blank.tsv"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="blank.tsv holds no sentences"):
        read_tsv(path, "sentiment")


def test_tsv_with_a_byte_order_mark(tmp_path):
    """A BOM (a file saved by a Windows editor) is not part of the first label."""
    path = tmp_path / "bom.tsv"
    path.write_bytes(b"\xef\xbb\xbfpos\tgood food\nneg\tbad food\n")
    assert read_tsv(path, "sentiment")[1] == [{"sentiment": "pos"}, {"sentiment": "neg"}]


def test_tsv_unicode_line_separators_inside_a_sentence(tmp_path):
    """Only newlines end lines: U+2028, U+0085 or a form feed inside a sentence do not make
    another (unlabelled) sentence, and the line numbers in messages stay the file's."""
    path = tmp_path / "seps.tsv"
    path.write_text("pos\tone \u2028 two\nneg\tthree \x85 four \x0c five\nneg\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"seps.tsv:3: a label with no sentence"):
        read_tsv(path, "sentiment")
    path.write_text("pos\tone \u2028 two\nneg\tthree \x85 four\n", encoding="utf-8")
    sentences, labels = read_tsv(path, "sentiment")
    assert len(sentences) == 2
    assert labels == [{"sentiment": "pos"}, {"sentiment": "neg"}]


# ---------------------------------------------------------------- read_jsonl


def _write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_jsonl_missing_or_null_labels_are_unlabelled(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [
        {"body": "a  b", "tense": "past", "mood": "wish", "other": 1},
        {"body": "c", "tense": None},
        "",
        {"body": " d ", "mood": "question"},
        {"body": "e", "tense": 3, "mood": True},
    ])
    sentences, labels = read_jsonl(path, "body", ["tense", "mood"])
    assert sentences == ["a b", "c", "d", "e"]
    assert labels == [{"tense": "past", "mood": "wish"}, None, {"mood": "question"},
                      {"tense": "3", "mood": "True"}]


def test_jsonl_a_line_that_is_not_json_names_the_line(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "y": "1"}, "", "{not json", {"text": "b"}])
    with pytest.raises(DataError, match=r"d.jsonl:3: not JSON"):
        read_jsonl(path, "text", ["y"])


@pytest.mark.parametrize("row", [{"body": "a", "y": "1"}, {"text": 5, "y": "1"}, {"text": None}, ["text"]])
def test_jsonl_without_a_text_field(tmp_path, row):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"text": "fine", "y": "0"}, row])
    with pytest.raises(DataError, match=r"d.jsonl:2: no string field 'text'"):
        read_jsonl(path, "text", ["y"])


def test_jsonl_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="labelled file not found"):
        read_jsonl(tmp_path / "none.jsonl", "text", ["y"])
    with pytest.raises(DataError, match="holds no sentences"):
        read_jsonl(_write_jsonl(tmp_path / "e.jsonl", ["", "  "]), "text", ["y"])


def test_jsonl_raw_line_separator_inside_a_string(tmp_path):
    """JSON allows a raw U+2028 inside a string (json.dumps(..., ensure_ascii=False) writes one)."""
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "one \u2028 two", "y": "1"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    sentences, labels = read_jsonl(path, "text", ["y"])
    assert len(sentences) == 1
    assert labels == [{"y": "1"}]


# ---------------------------------------------------------------- records_from_columns, grammar


def test_records_from_columns_with_class_label_names():
    texts = [" a  b ", "c", "d", "e", "f"]
    columns = {"sentiment": [2, -1, None, 0, 1], "topic": ["x", "y", None, None, 7]}
    sentences, labels = records_from_columns(texts, columns, {"sentiment": ["neg", "neutral", "pos"]})
    assert sentences == ["a b", "c", "d", "e", "f"]
    assert labels == [{"sentiment": "pos", "topic": "x"}, {"topic": "y"}, None,
                      {"sentiment": "neg"}, {"sentiment": "neutral", "topic": "7"}]
    # Without names, ids are values.
    assert records_from_columns(["a", "b"], {"y": [3, 0]})[1] == [{"y": "3"}, {"y": "0"}]


def test_grammar_records_match_the_recognizer():
    sentences = grammar_splits(150, 4)["train"]
    texts, labels = grammar_records(sentences, ["tense", "mood", "negation"])
    assert texts == [s.text for s in sentences]
    assert {label["negation"] for label in labels} == {"yes", "no"}
    for text, label in zip(texts, labels, strict=True):
        parsed = grammar_parse(text)
        assert label == {"tense": parsed["tense"], "mood": parsed["mood"],
                         "negation": "yes" if parsed["negation"] else "no"}


def test_grammar_records_unknown_factor():
    with pytest.raises(DataError) as info:
        grammar_records(grammar_splits(20, 0)["train"], ["tense", "colour"])
    assert "no factor colour" in str(info.value)
    assert ", ".join(GRAMMAR_FACTORS) in str(info.value)


# ---------------------------------------------------------------- sources: held_out_indices


def test_held_out_indices():
    held = held_out_indices(23, 0.2, seed=3)
    assert held == held_out_indices(23, 0.2, seed=3)
    assert held != held_out_indices(23, 0.2, seed=4)
    assert len(held) == 5  # round(0.2 * 23)
    assert held <= set(range(23))
    assert len(held_out_indices(7, 0.01, seed=0)) == 1  # at least one
    assert len(held_out_indices(7, 0.99, seed=0)) == 6  # at least one kept
    assert len(held_out_indices(2, 0.5, seed=0)) == 1


def test_held_out_indices_needs_two_sentences():
    with pytest.raises(DataError, match="tiny.tsv has 1 sentence"):
        held_out_indices(1, 0.5, seed=0, source="tiny.tsv")


# ---------------------------------------------------------------- sources: read_hf with labels


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "hf_cache"


def test_read_hf_json_label_columns(tmp_path, cache_dir):
    path = _write_jsonl(tmp_path / "d.jsonl", [
        {"body": "a b", "tense": "past", "mood": "wish"},
        {"body": None, "tense": "present", "mood": "question"},  # skipped with its labels
        {"body": " c ", "tense": None, "mood": "statement"},
        {"body": "   ", "tense": "past", "mood": "wish"},  # skipped with its labels
        {"body": "d", "tense": None, "mood": None},
        {"body": "e", "tense": "present", "mood": "wish"},
    ])
    result = read_hf("json", data_files=str(path), split="train", text_column="body",
                     label_columns=["tense", "mood"], cache_dir=cache_dir)
    assert result.sentences == ["a b", "c", "d", "e"]
    assert result.blank_lines == 2
    assert result.labels == [{"tense": "past", "mood": "wish"}, {"mood": "statement"}, None,
                             {"tense": "present", "mood": "wish"}]
    # Without label_columns, no labels.
    assert read_hf("json", data_files=str(path), text_column="body", cache_dir=cache_dir).labels is None


def test_read_hf_missing_label_column_lists_the_columns(tmp_path, cache_dir):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "y": 1}, {"text": "b", "y": 0}])
    with pytest.raises(DataError) as info:
        read_hf("json", data_files=str(path), label_columns=["y", "sentiment"], cache_dir=cache_dir)
    assert "no label column 'sentiment'" in str(info.value)
    assert "['text', 'y']" in str(info.value)


def test_read_hf_class_label_column_gives_its_names(tmp_path, cache_dir):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "d.parquet"
    names = ["negative", "neutral", "positive"]
    dataset = datasets.Dataset.from_dict(
        {"text": ["good", "", "fine", "bad", "so so"], "label": [2, 0, 1, 0, -1]}
    ).cast_column("label", datasets.ClassLabel(names=names))
    dataset.to_parquet(str(path))
    result = read_hf("parquet", data_files=str(path), split="train", label_columns=["label"],
                     cache_dir=cache_dir)
    assert result.sentences == ["good", "fine", "bad", "so so"]
    assert result.labels == [{"label": "positive"}, {"label": "neutral"}, {"label": "negative"}, None]
