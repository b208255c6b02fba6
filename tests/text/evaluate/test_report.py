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


def test_training_sentences_reference_lm_and_reverse_ppl_sections(tiny_config):
    from textvae.text.data.grammar import grammar_splits
    from textvae.text.evaluate.fluency import forward_perplexity, lm_perplexity
    from textvae.text.evaluate.report import reconstruction_scores, subset_indices
    from textvae.text.evaluate.reverse_ppl import reverse_perplexity
    from textvae.text.models.sentence_vae import build_model

    tv, ids = _tiny_textvae("vae", tiny_config)
    tok = tv.tokenizer
    train_ids = [tok.encode(s.text) for s in grammar_splits(200, 0)["train"]]
    torch.manual_seed(1)
    lm_config = tiny_config("model.model_type=lm")
    lm = TextVAE(build_model(lm_config.model, tok.vocab_size, tok.pad_id), tok, lm_config)
    report = evaluate(tv, ids, samples=3, diversity_samples=11, self_bleu_hypotheses=5,
                      quality=False, train_ids=train_ids, train_reconstruction=13,
                      reference_lm=lm, reverse_ppl_samples=9, reverse_ppl_steps=2)

    # Training sentences: a seeded subset, scored exactly as the split is.
    rec = report["reconstruction_train"]
    assert (rec["sentences"], rec["split_sentences"], rec["seed"]) == (13, len(train_ids), 0)
    picked = [train_ids[i] for i in subset_indices(len(train_ids), 13, 0)]
    picked_scores = reconstruction_scores(tv, picked)
    assert {k: rec[k] for k in picked_scores} == picked_scores
    assert report["reconstruction"] == reconstruction_scores(tv, ids)
    # The short-sentence exact match is the exact match of the sentences of <= 10 tokens alone.
    short = [x for x in ids if len(x) <= 10]
    long_ones = [x for x in ids if len(x) > 10]
    assert short and long_ones  # the grammar corpus has both
    assert report["reconstruction"]["short_sentences"] == len(short)
    assert report["reconstruction"]["exact_match_short"] == \
        reconstruction_scores(tv, short)["exact_match"]
    assert reconstruction_scores(tv, long_ones)["exact_match_short"] is None

    # Homotopy ends: the greedy decodes of each pair's two posterior means against the inputs.
    hom = report["homotopy"]
    mu, _ = tv.encode_ids(ids)
    ends = [i for pair in hom["pair_index"] for i in pair]
    decodes = tv.decode_ids(mu[ends], method="greedy")
    assert hom["endpoints_exact_match"] == pytest.approx(
        sum(d == ids[i] for d, i in zip(decodes, ends, strict=True)) / 20)
    assert hom["interior_forward_ppl_per_token_incl_eos"] > 1

    # Fluency: the prior samples and the split, under the reference LM.
    flu = report["fluency"]
    prior = tv.sample(11, seed=0)
    assert flu["samples"] == 11 and flu["samples_forward_ppl_per_token_incl_eos"] == \
        forward_perplexity(lm, prior)["ppl_per_token_incl_eos"]
    assert flu["split_ppl_per_token_incl_eos"] == lm_perplexity(lm, ids)["ppl_per_token_incl_eos"]

    # Reverse perplexity: an LM on 9 samples, and one on 9 training sentences, for 2 steps.
    rev = report["reverse_ppl"]
    assert (rev["samples"], rev["steps"], rev["real_sentences"]) == (9, 2, 9)
    on_samples = reverse_perplexity([tok.encode(t) for t in tv.sample(9, seed=0)], ids, tok,
                                    steps=2, seed=0)
    assert rev["samples_ppl_per_token_incl_eos"] == on_samples["ppl_per_token_incl_eos"]
    assert rev["real_ppl_per_token_incl_eos"] > 1

    text = format_report(report)
    for line in ("reconstruction of 13 training sentences", "ends decoded to their own sentences",
                 "forward PPL of the 80 points (ref. LM)", "forward PPL of the 11 prior samples",
                 "its PPL of the test split (real)", "LM trained on 9 prior samples",
                 "LM trained on 9 training sentences"):
        assert line in text, line
    assert report["settings"]["reference_lm"] is None  # built in memory: no path
