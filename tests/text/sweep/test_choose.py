"""The recommendation rules, on handmade rows with known answers."""

from textvae.text.sweep.choose import choose, choose_interpolation, choose_likelihood

LM = {"name": "lm", "model_type": "lm", "nll_gap_to_lm_nats": None, "recon_bleu": None,
      "samples_forward_ppl_vs_lm_samples": 1.0}


def vae(name, *, gap, se=0.11, bleu, ratio, change):
    return {"name": name, "model_type": "vae", "nll_gap_to_lm_nats": gap, "nll_gap_se_nats": se,
            "recon_bleu": bleu, "samples_forward_ppl_vs_lm_samples": ratio,
            "homotopy_changed_share": change}


ROWS = [
    LM,
    vae("rate3_del0", gap=-0.53, bleu=7.0, ratio=1.1, change=0.61),
    vae("rate11_del0", gap=0.37, bleu=23.0, ratio=1.3, change=0.93),
    vae("rate11_del0.3", gap=1.9, bleu=29.0, ratio=1.45, change=0.97),
    vae("rate37_del0", gap=9.1, bleu=61.0, ratio=3.7, change=0.99),  # fails fluency
    vae("rate37_del0.3", gap=7.7, bleu=55.0, ratio=1.2, change=0.71),  # fails the change share
]


def test_likelihood_is_the_lowest_paired_gap_and_says_whether_it_beats_the_lm():
    choice = choose_likelihood(ROWS)
    assert choice is not None and choice.name == "rate3_del0" and choice.warning is None
    assert "-0.53 ± 0.11" in choice.reason and "(below the LM by 2 standard errors)" in choice.reason
    close = choose_likelihood([LM, vae("a", gap=-0.13, se=0.07, bleu=1.0, ratio=1, change=1)])
    assert close is not None and "not below the LM" in close.reason


def test_interpolation_is_the_best_bleu_among_fluent_changing_points():
    choice = choose_interpolation(ROWS)
    assert choice is not None and choice.name == "rate11_del0.3" and choice.warning is None
    assert "29.0" in choice.reason and "the highest of the 2 points" in choice.reason


def test_interpolation_falls_back_to_the_best_bleu_with_a_warning_naming_the_failed_rule():
    rows = [LM, ROWS[1], ROWS[4], ROWS[5]]  # nobody passes both conditions
    choice = choose_interpolation(rows)
    assert choice is not None and choice.name == "rate37_del0"
    assert choice.warning is not None
    assert "no point meets both interpolation rules" in choice.warning
    assert "1.5x the LM samples': 2 of 3 points" in choice.warning
    assert ">= 90%: 1 of 3" in choice.warning
    assert "forward PPL is 3.70x the LM samples'" in choice.warning  # the condition it fails
    assert "change 99%" not in choice.warning  # ... and not the one it meets
    only_change = choose_interpolation([LM, ROWS[5]])
    assert only_change is not None and only_change.warning is not None
    assert "its interior homotopy points change 71% of the time (rule: >= 90%)" in only_change.warning
    assert "forward PPL is" not in only_change.warning


def test_an_unmeasured_condition_fails_and_is_named():
    row = vae("a", gap=0.1, bleu=3.0, ratio=None, change=0.95)
    choice = choose_interpolation([LM, row])
    assert choice is not None and choice.warning is not None
    assert "forward PPL was not measured" in choice.warning


def test_without_vae_rows_nothing_is_recommended():
    assert choose([LM]) == {}
    both = choose(ROWS)
    assert list(both) == ["interpolation", "likelihood"]
