"""Two handmade evaluation reports paired sentence by sentence: the mean difference, its standard
error, the refusals and the printed comparison."""

import json
import math

import pytest

from textvae.core.errors import InputError
from textvae.text.evaluate.paired import (
    format_comparison,
    nll_per_sentence,
    paired_difference,
    read_report,
)


def report(nlls, *, vae=True, index=None, split="test", samples=500):
    likelihood = ({"iw_nll_nats_per_sentence": sum(nlls) / len(nlls)} if vae
                  else {"nll_nats_per_sentence": sum(nlls) / len(nlls)})
    return {"settings": {"split": split, "iw_samples": samples if vae else None},
            "likelihood": likelihood,
            "per_sentence": {"iw_nll_nats": list(nlls),
                             "split_index": index or list(range(len(nlls)))}}


def test_the_paired_difference_has_the_known_mean_and_standard_error():
    vae, lm = report([11.0, 13.0, 17.0]), report([10.0, 13.0, 15.0], vae=False)
    mean, se = paired_difference(vae, lm)  # differences 1, 0, 2
    assert mean == pytest.approx(1.0)
    assert se == pytest.approx(math.sqrt(1.0 / 3))  # sample variance 1, three sentences
    assert paired_difference(report([5.0]), report([4.0], vae=False)) == (1.0, None)


def test_the_difference_is_far_more_precise_than_either_mean():
    # Lengths spread each model's NLLs over tens of nats; the two models differ by 0.5 +- 0.1.
    lm = [20.0 + 7.0 * i for i in range(11)]
    vae = [v + 0.5 + (0.1 if i % 2 else -0.1) for i, v in enumerate(lm)]
    mean, se = paired_difference(report(vae), report(lm, vae=False))
    spread = math.sqrt(sum((v - sum(lm) / 11) ** 2 for v in lm) / 10 / 11)
    assert mean == pytest.approx(0.5 - 0.1 / 11)  # five +0.1, six -0.1
    assert se < spread / 50


def test_different_sentences_or_splits_are_not_paired():
    with pytest.raises(InputError, match="different sentences"):
        paired_difference(report([1.0, 2.0], index=[0, 3]), report([1.0, 2.0], vae=False))
    with pytest.raises(InputError, match="one report is on the test split, the other on the "
                                         "valid split"):
        paired_difference(report([1.0, 2.0]), report([1.0, 2.0], vae=False, split="valid"))


def test_each_report_says_what_its_nll_is():
    assert nll_per_sentence(report([3.0, 5.0], samples=37)) == (4.0, "IW-NLL, K = 37")
    assert nll_per_sentence(report([3.0, 6.0], vae=False)) == (4.5, "exact NLL")


def test_the_comparison_names_both_models_and_the_difference_in_standard_errors():
    text = format_comparison("vae.json", report([11.0, 13.0, 17.0]),
                             "lm.json", report([10.0, 13.0, 15.0], vae=False))
    lines = text.splitlines()
    assert lines[0] == "A: 13.67 nats/sentence (IW-NLL, K = 500)  vae.json"
    assert lines[1] == "B: 12.67 nats/sentence (exact NLL)  lm.json"
    se = math.sqrt(1.0 / 3)
    assert lines[2] == (f"A - B, paired over 3 test sentences: +1.00 ± {se:.2f} nats/sentence "
                        f"({1.0 / se:.1f} standard errors above zero)")
    below = format_comparison("lm.json", report([10.0, 13.0, 15.0], vae=False),
                              "vae.json", report([11.0, 13.0, 17.0]))
    assert below.splitlines()[2].endswith("below zero)") and "-1.00 ±" in below
    single = format_comparison("a", report([5.0]), "b", report([4.0]))
    assert "+1.00 nats/sentence (one sentence: no standard error)" in single


def test_a_report_is_read_back_and_bad_files_are_refused(tmp_path):
    good = tmp_path / "eval-test-k500.json"
    good.write_text(json.dumps(report([3.0, 4.0])))
    assert read_report(good)["per_sentence"]["iw_nll_nats"] == [3.0, 4.0]
    with pytest.raises(InputError, match="is a folder: give one of the eval-"):
        read_report(tmp_path)
    with pytest.raises(InputError, match="cannot read the report .*missing.json"):
        read_report(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="cannot read the report .*broken.json"):
        read_report(broken)
    labelled = tmp_path / "eval-labels-test.json"
    labelled.write_text(json.dumps({"accuracy": {"topic": 0.9}}))
    with pytest.raises(InputError, match="not a `textvae evaluate` report with per-sentence"):
        read_report(labelled)
    cut = report([3.0, 4.0])
    del cut["likelihood"]  # per-sentence figures without their means: not a whole report
    labelled.write_text(json.dumps(cut))
    with pytest.raises(InputError, match="not a `textvae evaluate` report"):
        read_report(labelled)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a `textvae evaluate` report"):
        read_report(listed)
