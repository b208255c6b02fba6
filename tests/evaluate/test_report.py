"""textvae.text.evaluate.report: the evaluation report's sections, units and formatting."""

import math

import pytest
import torch

from textvae.text.api import TextVAE
from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.evaluate.report import evaluate, format_report

pytestmark = pytest.mark.usefixtures("one_thread")



def _tiny_textvae(model_type, tiny_config):
    from textvae.text.data.grammar import grammar_splits

    cfg = tiny_config(f"model.model_type={model_type}")
    texts = [s.text for s in grammar_splits(200, 0)["train"]]
    tok = WordTokenizer.build(texts)
    from textvae.text.models.sentence_vae import build_model

    torch.manual_seed(0)
    model = build_model(cfg.model, tok.vocab_size, tok.pad_id)
    return TextVAE(model, tok, cfg), [tok.encode(t) for t in texts[:19]]


def test_report_has_every_section_and_formats(tiny_config, monkeypatch):
    import textvae.text.evaluate.report

    monkeypatch.setattr(textvae.text.evaluate.report, "grammar_quality_report",
                        lambda tv, **kw: {"settings": {}, "grammaticality": {"prior": 0.5}})
    tv, ids = _tiny_textvae("vae", tiny_config)
    report = evaluate(tv, ids, samples=7, diversity_samples=9, self_bleu_hypotheses=5)
    like = report["likelihood"]
    assert like["iw_nll_nats_per_sentence"] <= like["neg_elbo_nats_per_sentence"]
    assert like["neg_elbo_nats_per_sentence"] == pytest.approx(
        like["reconstruction_nats_per_sentence"] + like["kl_nats_per_sentence"])
    tokens = sum(len(x) + 1 for x in ids)
    assert like["ppl_per_token_incl_eos"] == pytest.approx(
        math.exp(like["iw_nll_nats_per_sentence"] * len(ids) / tokens))
    assert like["ppl_per_word_excl_eos"] > like["ppl_per_token_incl_eos"]
    assert 0 <= report["latent"]["active_units"] <= 7
    assert 0.0 <= report["reconstruction"]["exact_match"] <= 1.0
    assert report["diversity"]["self_bleu_hypotheses"] == 5
    assert report["grammar_quality"]["grammaticality"]["prior"] == 0.5
    hom = report["homotopy"]
    assert (hom["pairs"], hom["steps"], len(hom["example"])) == (10, 8, 10)
    assert all(a != b and 0 <= a < len(ids) and 0 <= b < len(ids) for a, b in hom["pair_index"])
    assert 0.0 <= hom["changed_share"] <= 1.0
    # The path's ends are the greedy decodes of the two posterior means.
    a, b = hom["pair_index"][0]
    ends = tv.decode_ids(torch.stack([report_mu(tv, ids[a]), report_mu(tv, ids[b])]),
                         method="greedy")
    assert [tv.tokenizer.decode(d) for d in ends] == [hom["example"][0], hom["example"][-1]]
    text = format_report(report)
    assert "IW-NLL (K = 7)" in text and "PPL per word (no eos)" in text
    assert "sentences/s" in text and "unlike both neighbours" in text


def report_mu(tv, sentence_ids):
    """The posterior mean of one tokenized sentence, (Z,)."""
    mu, _ = tv.encode([tv.tokenizer.decode(sentence_ids)])
    return mu[0]


def test_report_for_the_lm_baseline(tiny_config):
    tv, ids = _tiny_textvae("lm", tiny_config)
    report = evaluate(tv, ids, samples=7, diversity_samples=5, quality=True)
    assert set(report["likelihood"]) == {"nll_nats_per_sentence", "ppl_per_token_incl_eos",
                                         "ppl_per_word_excl_eos"}
    assert "latent" not in report and "grammar_quality" not in report and "homotopy" not in report
    assert "NLL (exact)" in format_report(report)
