import pytest
import torch
from tiny import BF16_RNNS

from textvae.text.evaluate.bench import (
    flops_per_token,
    format_table,
    matmul_rate,
    rnn_flops_per_step,
    run_benchmark,
)
from textvae.text.models.sentence_vae import ModelConfig


def test_flops_of_the_ptb_lstm_by_hand():
    flops = flops_per_token(ModelConfig(), vocab_size=10002)
    # Each LSTM: 4 gates x 256 outputs from 256 + 256 inputs, 2 FLOPs per multiply-add.
    assert flops["encoder"] == flops["decoder"] == 2 * 4 * 256 * 512 == 1_048_576
    assert flops["output"] == 2 * 256 * 10002
    assert flops["train"] == 3 * (2 * 1_048_576 + 2 * 256 * 10002) == 21_654_528


def test_flops_of_a_stacked_bidirectional_gru_and_the_lm():
    # Layer 1 reads E = 7 inputs, layer 2 reads both directions of layer 1 (2 x 5).
    assert rnn_flops_per_step("gru", 7, 5, 2, 2) == 2 * (2 * 3 * 5 * (7 + 5)) + 2 * (2 * 3 * 5 * (10 + 5))
    cfg = ModelConfig(rnn_type="gru", embed_dim=7, encoder_hidden_dim=5, decoder_hidden_dim=9,
                      latent_dim=3, z_to_inputs=True)
    flops = flops_per_token(cfg, vocab_size=13)
    assert flops["decoder"] == 2 * 3 * 9 * (7 + 3 + 9)  # z joins every decoder input
    lm = flops_per_token(ModelConfig(model_type="lm", embed_dim=7, decoder_hidden_dim=9,
                                     z_to_inputs=True), vocab_size=13)
    assert lm["encoder"] == 0 and lm["decoder"] == 2 * 4 * 9 * (7 + 9)


def test_flops_of_transformers_by_hand():
    # Per layer and token: 8 E^2 (q, k, v, out), 4 E F (feed-forward), 4 c E (attention over c).
    cfg = ModelConfig(encoder="transformer", decoder="transformer", embed_dim=8, ff_dim=12,
                      encoder_layers=2, decoder_layers=3, heads=2, memory_slots=1)
    flops = flops_per_token(cfg, vocab_size=13, mean_length=9)
    assert flops["encoder"] == 2 * (8 * 64 + 4 * 8 * 12 + 4 * 9 * 8)  # every token sees all 9
    assert flops["decoder"] == 3 * (8 * 64 + 4 * 8 * 12 + 4 * 6 * 8)  # (9 + 1) / 2 + 1 memory slot
    assert flops["output"] == 2 * 8 * 13
    lm = flops_per_token(ModelConfig(model_type="lm", decoder="transformer", embed_dim=8,
                                     heads=2, z_conditioning="memory"), vocab_size=13, mean_length=9)
    assert lm["encoder"] == 0 and lm["decoder"] == 8 * 64 + 4 * 8 * 32 + 4 * 5 * 8  # no memory


def test_matmul_rate_is_a_positive_rate():
    rate = matmul_rate(torch.device("cpu"), size=64, seconds=0.05)
    assert 1e6 < rate < 1e15


def test_benchmark_runs_end_to_end_on_a_tiny_config(tiny_config, one_thread):
    cfg = tiny_config("train.max_steps=5")
    results = run_benchmark(cfg, seconds=0.2, warmup_steps=2, decode_sentences=7, iw_samples=3,
                            iw_sentences=5, reference_sentences=4, matmul_seconds=0.05,
                            log=lambda msg: None)
    train = results["train"]
    iw = results["iw"]
    assert (iw["samples"], iw["sentences"], iw["reference_sentences"]) == (3, 5, 4)
    assert iw["speedup"] > 0 and iw["split_sentences"] > 5 and 0 < iw["split_tokens_fraction"] < 1
    assert train["steps"] >= 10 and train["tokens_per_s"] > 0
    assert results["decode"]["sentences"] == 7
    assert results["train_flops"] == pytest.approx(train["tokens_per_s"] * results["flops_per_token"]["train"])
    table = format_table(results)
    for label in ("training throughput", "greedy decoding", "FLOPs per training token",
                  "float32 matmul ceiling", "peak memory", "IW-NLL, K=3", "whole test split"):
        assert label in table


def test_a_transformer_benchmark_times_decoding_with_and_without_the_cache(tiny_config, one_thread):
    cfg = tiny_config("train.max_steps=5", "model.encoder=transformer", "model.decoder=transformer",
                      "model.embed_dim=15", "model.heads=3")
    results = run_benchmark(cfg, seconds=0.2, warmup_steps=2, decode_sentences=7, iw_samples=0,
                            matmul_seconds=0.05, decode_length=3, log=lambda msg: None)
    assert results["decode"]["sentences"] == results["decode_uncached"]["sentences"] == 7
    for timing in (results["decode"], results["decode_uncached"]):  # no end token stops one
        assert timing["mean_length"] == 3
    assert results["decode_uncached"]["sentences_per_s"] > 0
    assert results["model"].startswith("transformer emb 15, 1/1 layers, 3 heads, ff 60")
    table = format_table(results)
    assert "without the KV cache" in table and "FLOPs per training token" in table
    assert f"{results['decode']['mean_length']:.1f} tokens each" in table


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_benchmark_on_cuda_with_mixed_precision(tiny_config):
    cfg = tiny_config("train.device=cuda", "train.amp=auto")
    results = run_benchmark(cfg, seconds=0.2, warmup_steps=2, decode_sentences=7, iw_samples=0,
                            matmul_seconds=0.05, log=lambda msg: None)
    assert results["device"].startswith("cuda") and results["train"]["tokens_per_s"] > 0
    assert 0 < results["peak_memory"] and "bfloat16" in results["matmul_flops"]


@BF16_RNNS
def test_bf16_autocast_on_the_cpu_trains_and_keeps_the_posterior_in_float32(tiny_config, one_thread):
    from textvae.text.training.train import train

    cfg = tiny_config("train.max_steps=4", "train.amp=bf16")
    result = train(cfg, progress=False, log=lambda msg: None)
    assert result.step == 4 and torch.isfinite(torch.tensor(result.valid["neg_elbo"]))
