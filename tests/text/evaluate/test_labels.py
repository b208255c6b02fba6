"""The grammar-corpus judges of a labelled run, on decodes chosen to have known answers."""

from types import SimpleNamespace

import pytest

from textvae.core.label_sets import LabelSet
from textvae.text.data.grammar import generate, parse
from textvae.text.evaluate.labels import grammar_sample_check, grammar_transfer_check

LABELS = LabelSet({"tense": ("past", "present"), "number": ("plural", "singular"), "negation": ("no", "yes")})


def _ids(sentence):
    found = parse(sentence)
    return [LABELS.index("tense", found["tense"]), LABELS.index("number", found["number"]),
            LABELS.index("negation", "yes" if found["negation"] else "no")]


def _pool():
    return [s.text for s in generate(400, seed=5)]


def test_the_transfer_judge_counts_carried_kept_and_grammatical():
    pool = _pool()
    source = pool[0]
    past = _ids(source)[0] == 0
    # A grammar sentence of the other tense (the judge then sees the new label carried) that
    # differs from the source in another factor too (so not every other label is kept).
    other = next(s for s in pool if (parse(s)["tense"] == "past") != past
                 and parse(s)["number"] != parse(source)["number"])
    replies = {"copy": [source], "other": [other], "junk": ["not a grammar sentence"]}
    for name, expected in (("copy", (0.0, 1.0, 1.0)), ("other", (1.0, 0.0, 1.0)), ("junk", (0.0, 0.0, 0.0))):
        tv = SimpleNamespace(label_set=LABELS, token_ids=lambda s: [[1]] * len(s),
                             transfer_labels=lambda ids, src, tgt, seed, r=replies[name]: r)
        report = grammar_transfer_check(tv, [source], [_ids(source)], seed=0)
        row = report["tense"]
        assert (row["carried"], row["others_kept"], row["grammatical"]) == expected, name
        assert report["reconstructed_exactly"] == (1.0 if name == "copy" else 0.0)
        if name != "other":  # the whole sentence kept, or none of its words
            assert row["words_kept"] == (1.0 if name == "copy" else 0.0)


def test_the_sample_judge_checks_every_requested_combination():
    pool = _pool()
    labels = LabelSet({"tense": ("past", "present"), "mood": ("question", "statement")})

    def sample(n, label, seed):
        # Always a past statement: right for one of the four combinations, ungrammatical never.
        text = next(s for s in pool if parse(s)["tense"] == "past" and parse(s)["mood"] == "statement")
        return [text] * n

    report = grammar_sample_check(SimpleNamespace(label_set=labels, sample=sample), 3, seed=0)
    assert report["factors"] == ["tense", "mood"] and len(report["combinations"]) == 4
    assert report["carried"] == pytest.approx(0.25) and report["grammatical"] == 1.0
    assert report["worst_carried"] == 0.0
