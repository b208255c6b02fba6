"""textvae.text.viz.page: the self-contained HTML report."""

import base64
import re

import pytest

from textvae.text.viz.page import PageContent, flatten, render_page, validation_table, write_report

from .helpers import SENTENCES

pytestmark = pytest.mark.usefixtures("one_thread")

PNG = base64.b64decode(  # a 1 x 1 transparent PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def images(text):
    return re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)


def assert_self_contained(text):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, re.I)
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text


def test_the_page_escapes_text_and_inlines_images():
    evil = '<script>alert("x")</script> & "quoted"'
    page = PageContent(
        title=f"run {evil}", run="/runs/<odd>", config={"data": {"source": evil}},
        metrics_columns=["best (step 9)"], metrics_table=[("neg_elbo", [12.5])],
        pictures={"curves": PNG, "kl_weight": PNG, "latent_pca": PNG},
        notes=[f"note {evil}"], samples=[evil, "the fans ran ."],
        reconstructions=[(evil, evil)], grammar=True,
        interpolations=[("from <a>", "to <b>", ["a <b>", "c & d"])],
    )
    text = render_page(page)
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&amp; &quot;quoted&quot;" in text and "a &lt;b&gt;" in text and "c &amp; d" in text
    assert "from: from &lt;a&gt;" in text and "to: to &lt;b&gt;" in text
    assert "/runs/&lt;odd&gt;" in text
    assert [base64.b64decode(data) for data in images(text)] == [PNG, PNG, PNG]
    assert_self_contained(text)
    # Grammar marks: the grammar sentence passes, the other does not.
    assert text.count('class="mark ok"') == 1 and text.count('class="mark bad"') == 4


def test_flatten_and_validation_table():
    assert flatten({"train": {"kl": {"k": 1}, "lr": 0.5}, "seed": 3}) == {
        "train.kl.k": 1, "train.lr": 0.5, "seed": 3}
    rows = [
        {"split": "train", "step": 3, "kl": 9.0},
        {"split": "valid", "step": 5, "neg_elbo": 20.0, "kl": 3.0, "active_units": 3},
        {"split": "valid", "step": 9, "neg_elbo": 17.0, "kl": 4.0, "active_units": 5},
        {"split": "valid", "step": 13, "neg_elbo": 19.0, "kl": 5.0, "active_units": 5},
    ]
    meta = {"step": 9, "valid": {"neg_elbo": 17.0, "kl": 4.0}}
    columns, table = validation_table(rows, meta)
    assert columns == ["best (step 9)", "final (step 13)", "loaded checkpoint (step 9)"]
    assert table == [("neg_elbo", [17.0, 19.0, 17.0]), ("kl", [4.0, 5.0, 4.0]),
                     ("active_units", [5, 5, None])]


def test_report_of_a_vae_run(vae_run, tmp_path):
    # From a checkpoint: the metrics and the title come from the run it belongs to.
    out = write_report(vae_run / "last", tmp_path / "report.html", sentences=SENTENCES, samples=5,
                       reconstructions=3, interpolations=2, steps=5, device="cpu")
    text = out.read_text(encoding="utf-8")
    assert len(images(text)) == 5  # curves, loss terms, KL vs weight, PCA, KL per dimension
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images(text))
    assert_self_contained(text)
    for heading in ("Config", "Validation", "Pictures", "Samples", "Reconstructions",
                    "Interpolations"):
        assert f"<h2>{heading}" in text
    assert "greedy decode of z ~ N(0, I)" in text
    assert text.count("Path ") == 2
    assert "best (step" in text and "loaded checkpoint (step" in text
    assert f"<h1>textvae run: {vae_run.name}</h1>" in text


def test_report_of_an_lm_run_has_curves_only(lm_run, tmp_path):
    out = write_report(lm_run, tmp_path / "lm.html", sentences=SENTENCES, samples=3,
                       device="cpu")
    text = out.read_text(encoding="utf-8")
    assert len(images(text)) == 1
    assert "LM baseline" in text and "sampled from the language model" in text
    assert "Reconstructions" not in text and "Interpolations" not in text
    assert_self_contained(text)


def _evaluation(split="test", **sections):
    """A small `textvae evaluate` report: an LM's, with the sample-quality sections given."""
    return {"settings": {"split": split, "sentences": 13, "iw_samples": None, "seed": 0,
                         "target_tokens_incl_eos": 97, "words": 84,
                         "reference_lm": "/runs/<lm>"},
            "likelihood": {"nll_nats_per_sentence": 21.5, "ppl_per_token_incl_eos": 17.25},
            "diversity": {"samples": 11, "decoding": "ancestral sampling, T = 1",
                          "distinct_1": 0.5, "distinct_2": 0.75, "self_bleu": 33.0,
                          "self_bleu_hypotheses": 7},
            "timing": {"iw_nll_seconds": 1.0, "iw_sentences_per_second": 13.0}, **sections}


def test_the_page_shows_the_runs_evaluation_reports(tmp_path):
    import json

    from textvae.core.errors import InputError
    from textvae.text.viz.page import read_evaluations

    fluency = {"samples": 11, "samples_forward_ppl_per_token_incl_eos": 42.125,
               "split_ppl_per_token_incl_eos": 19.5}
    (tmp_path / "eval-test-k1.json").write_text(json.dumps(_evaluation(fluency=fluency)))
    (tmp_path / "eval-valid-k1.json").write_text(json.dumps(_evaluation("valid")))
    (tmp_path / "eval-labels-test.json").write_text("{}")  # a labelled run's: not this table
    (tmp_path / "eval-broken.json").write_text("{not json")
    entries, notes = read_evaluations(tmp_path, None)
    assert [name for name, _, _ in entries] == ["eval-test-k1.json", "eval-valid-k1.json"]
    assert len(notes) == 1 and "eval-broken.json is not a readable" in notes[0]
    name, summary, sections = entries[0]
    assert summary == "test split, 13 sentences; reference LM /runs/<lm>"
    titles = [title for title, _ in sections]
    assert titles[-1] == "fluency under the reference LM (PPL per target token, words + eos)"
    assert sections[-1][1] == [("forward PPL of the 11 prior samples", "42.12"),
                               ("its PPL of the test split (real)", "19.50")]
    text = render_page(PageContent(title="t", run="r", config={}, evaluations=entries))
    assert "<h2>Evaluation</h2>" in text and "<h3>eval-valid-k1.json</h3>" in text
    assert "reference LM /runs/&lt;lm&gt;" in text and "42.12" in text
    assert_self_contained(text)
    # Named files are shown whatever their name, and one that is no report is an error.
    assert read_evaluations(None, [tmp_path / "eval-valid-k1.json"])[0][0][0] == "eval-valid-k1.json"
    with pytest.raises(InputError, match="eval-broken.json is not a readable"):
        read_evaluations(tmp_path, [tmp_path / "eval-broken.json"])
    assert read_evaluations(None, None) == ([], [])
