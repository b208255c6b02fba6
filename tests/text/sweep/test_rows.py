"""A point's row from handmade evaluation reports (its paired gap to the LM included) and the table."""

import pytest

from textvae.text.sweep.rows import format_table, point_row


def report(nlls, *, vae=True, index=None, samples_ppl=63.0):
    out = {
        "settings": {"iw_samples": 7 if vae else None, "sentences": len(nlls)},
        "likelihood": ({"iw_nll_nats_per_sentence": sum(nlls) / len(nlls),
                        "kl_nats_per_sentence": 9.5, "ppl_per_token_incl_eos": 71.0}
                       if vae else {"nll_nats_per_sentence": sum(nlls) / len(nlls),
                                    "ppl_per_token_incl_eos": 69.0}),
        "per_sentence": {"iw_nll_nats": list(nlls),
                         "split_index": index or list(range(len(nlls)))},
        "diversity": {"decoding": "greedy from z ~ N(0, I)", "self_bleu": 41.0,
                      "distinct_1": 0.13, "distinct_2": 0.51},
        "fluency": {"samples_forward_ppl_per_token_incl_eos": samples_ppl,
                    "split_ppl_per_token_incl_eos": 69.0},
        "timing": {"total_seconds": 13.0},
    }
    if vae:
        out["latent"] = {"mutual_information_nats": 3.3, "active_units": 5, "latent_dim": 7}
        out["reconstruction"] = {"bleu": 31.0, "exact_match": 0.2, "token_accuracy": 0.6}
        out["homotopy"] = {"changed_share": 0.9125, "endpoints_exact_match": 0.35}
    return out


def test_a_vae_row_carries_every_measure_and_the_ratio_to_the_lm_samples():
    lm = report([10.0, 13.0, 15.0], vae=False, samples_ppl=45.0)
    row = point_row({"name": "rate9_del0.3", "model_type": "vae"},
                    report([11.0, 13.0, 17.0], samples_ppl=63.0), lm)
    assert row["name"] == "rate9_del0.3" and row["kl_nats"] == 9.5
    assert row["nll_gap_to_lm_nats"] == pytest.approx(1.0)
    assert row["samples_forward_ppl_vs_lm_samples"] == pytest.approx(63.0 / 45.0)
    assert row["recon_bleu"] == 31.0 and row["homotopy_changed_share"] == 0.9125
    assert row["train_recon_bleu"] is None and row["reverse_ppl"] is None  # not measured
    assert row["eval_seconds"] == 13.0 and row["iw_samples"] == 7


def test_the_lm_row_has_no_latent_figures_and_the_table_shows_dashes():
    lm = report([10.0, 13.0, 15.0], vae=False, samples_ppl=45.0)
    lm_row = point_row({"name": "lm", "model_type": "lm", "train_seconds": 90.0}, lm, lm)
    assert lm_row["kl_nats"] is None and lm_row["nll_gap_to_lm_nats"] is None
    assert lm_row["iw_nll_nats"] == pytest.approx(38.0 / 3)
    assert lm_row["samples_forward_ppl_vs_lm_samples"] == 1.0
    vae_row = point_row({"name": "rate9_del0", "model_type": "vae", "train_seconds": 150.0},
                        report([11.0, 13.0, 17.0]), lm)
    lines = format_table([lm_row, vae_row]).splitlines()
    assert lines[0].split()[:4] == ["point", "KL", "MI", "AU"]
    assert lines[1].split()[:3] == ["lm", "-", "-"]
    assert "+1.00 ±0.58" in lines[2] and "91%" in lines[2] and "1.5" in lines[1]
    assert len(lines) == 4  # heading, two rows, legend
