"""The speed benchmark behind ``textvae bench`` and ``scripts/bench.py``.

One run prints one table for one config (``ptb_bowman`` for the published figures: PTB, LSTM
256/256/32, batch 32):

- training throughput in target tokens/s (non-pad targets: words + eos), timed over the real
  training code path (collate, word dropout, forward, backward, optimiser step) in steady state
  after a warm-up, on the config's own length-bucketed batches;
- greedy-decoding throughput in sentences/s (prior samples, batched); for a transformer decoder
  also without its key/value cache (every step runs the whole prefix again);
- importance-weighted NLL throughput in sentences/s at K samples (default 500) on the test split,
  and the same on the same sentences with the He et al. 2019 protocol (one sentence at a time,
  samples in chunks of 100) for comparison;
- peak memory (CUDA: peak allocated; CPU: the process's peak resident set);
- the model's FLOPs per training token, derived from its shapes (:func:`flops_per_token`);
- the machine's float32 matrix-multiply rate, measured in the same run, and the fraction of that
  ceiling the training step reaches.

The FLOP count is the standard dense one: a (m, k) x (k, n) product is 2mkn FLOPs; a backward
pass costs twice its forward (gradients for inputs and for weights). A transformer's attention
depends on the sentence length: it is counted at the training split's mean. Element-wise work (gate
nonlinearities, softmax, Adam) is not counted, so the fraction is a lower bound on how busy the
machine is.
"""

from __future__ import annotations

import contextlib
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from textvae.core.device import check_rnn_precision, resolve_device
from textvae.text.evaluate.iw import iw_nll, iw_nll_reference
from textvae.text.models.contracts import UnconditionedSentenceModel
from textvae.text.models.sentence_vae import ModelConfig, build_model
from textvae.text.models.transformer import recomputing_prefix
from textvae.text.run.config import Config
from textvae.text.run.corpus import Corpus, build_corpus
from textvae.text.training.train import Trainer

RNN_GATES = {"lstm": 4, "gru": 3}


# ---------------------------------------------------------------------------------------------
# Arithmetic


def rnn_flops_per_step(rnn_type: str, input_dim: int, hidden: int, layers: int,
                       directions: int) -> int:
    """Forward FLOPs of a stacked (bi)RNN for one time step of one sequence.

    Each layer and direction multiplies its input (I) and its previous hidden state (H) by the
    gate weights: gates * H outputs from I + H inputs, 2 FLOPs per multiply-add.
    """
    gates = RNN_GATES[rnn_type]
    total, layer_input = 0, input_dim
    for _ in range(layers):
        total += directions * 2 * gates * hidden * (layer_input + hidden)
        layer_input = directions * hidden
    return total


def transformer_flops_per_token(width: int, ff_dim: int, layers: int, context: float) -> int:
    """Forward FLOPs of transformer blocks for one token that attends to ``context`` positions:
    per layer the q, k, v and output projections (4 E x E), the feed-forward layers (2 E x F),
    and the attention scores and weighted sum (2 x context x E)."""
    return round(layers * (2 * 4 * width * width + 2 * 2 * width * ff_dim + 4 * context * width))


def flops_per_token(cfg: ModelConfig, vocab_size: int, mean_length: float = 25.0) -> dict[str, int]:
    """FLOPs per target token of one training step (forward + backward = 3 x forward).

    Per-sentence work (posterior heads, z's projection) is a few thousand FLOPs per
    sentence, under 0.1% of a ~25-token sentence's total, and is left out.

    Args:
        mean_length: target tokens per sentence, for a transformer's attention (an encoder
            token attends to the whole sentence, a decoder token to (n + 1) / 2 positions on
            average, plus its memory slots).

    Returns:
        ``encoder``, ``decoder``, ``output`` (forward FLOPs per token of each part),
        ``forward`` (their sum) and ``train`` (3 x forward).
    """
    ff_dim = cfg.ff_dim or 4 * cfg.embed_dim
    encoder = 0
    if cfg.model_type == "vae" and cfg.encoder == "transformer":
        encoder = transformer_flops_per_token(cfg.embed_dim, ff_dim, cfg.encoder_layers, mean_length)
    elif cfg.model_type == "vae":
        encoder = rnn_flops_per_step(cfg.rnn_type, cfg.embed_dim, cfg.encoder_hidden_dim,
                                     cfg.encoder_layers, 2 if cfg.bidirectional else 1)
    if cfg.decoder == "transformer":
        reads_memory = cfg.model_type == "vae" and cfg.z_conditioning in ("memory", "both")
        memory = cfg.memory_slots if reads_memory else 0
        decoder = transformer_flops_per_token(cfg.embed_dim, ff_dim, cfg.decoder_layers,
                                              (mean_length + 1) / 2 + memory)
        output = 2 * cfg.embed_dim * vocab_size
    else:
        z_inputs = cfg.latent_dim if (cfg.z_to_inputs and cfg.model_type == "vae") else 0
        decoder = rnn_flops_per_step(cfg.rnn_type, cfg.embed_dim + z_inputs, cfg.decoder_hidden_dim,
                                     cfg.decoder_layers, 1)
        output = 2 * cfg.decoder_hidden_dim * vocab_size
    forward = encoder + decoder + output
    return {"encoder": encoder, "decoder": decoder, "output": output, "forward": forward,
            "train": 3 * forward}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, *, size: int = 2048,
                seconds: float = 2.0) -> float:
    """Measured dense matrix-multiply rate in FLOP/s: repeated (size x size) products."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(dtype)
    for _ in range(3):  # warm-up: thread pools, kernels, caches
        a @ b
    _sync(device)
    count, start = 0, time.perf_counter()
    while True:
        a @ b
        count += 1
        if count % 4 == 0:
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return 2 * size**3 * count / elapsed


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA: peak allocated by torch. CPU: the process's peak resident set (Linux reports KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------------------------
# Measurements


def train_throughput(trainer: Trainer, *, warmup_steps: int = 20, seconds: float = 30.0,
                     progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Target tokens per second of the training step, in steady state.

    Runs ``warmup_steps`` untimed steps, then times whole steps (collate, transfer, word dropout,
    forward, backward, optimiser step) until ``seconds`` have passed, over the trainer's own
    epoch-0 batch order.
    """
    device = trainer.device
    batches = trainer.sampler.batches(0)
    tokens = steps = 0
    elapsed = 0.0
    for position in range(len(batches) * 10):
        indices = batches[position % len(batches)]
        if position == warmup_steps:
            _sync(device)
            start = time.perf_counter()
        # The training loop's own step: pinned copy, lengths counted on the host (no GPU wait).
        _, batch_tokens = trainer.train_batch(indices)
        if position >= warmup_steps:
            tokens += batch_tokens
            steps += 1
            if steps % 10 == 0:
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
    if progress:
        progress(f"training: {steps} steps timed in {elapsed:.1f} s")
    return {"tokens_per_s": tokens / elapsed, "steps": steps, "seconds": elapsed,
            "tokens_per_step": tokens / steps}


@torch.no_grad()
def decode_throughput(model: UnconditionedSentenceModel[Any], *, bos_id: int, device: torch.device,
                      sentences: int = 1000, batch_size: int = 500,
                      max_len: int = 40, cache: bool = True) -> dict[str, float]:
    """Greedy decoding of prior samples (z ~ N(0, I)) to exactly ``max_len`` tokens each,
    sentences per second; ``cache`` False decodes a transformer without its key/value cache
    (:func:`recomputing_prefix`).

    No end token stops a sentence (the end id is -1, which no model picks): a fixed amount of
    work, so the figure does not depend on how far the model has trained.
    """
    from textvae.text.generate import greedy_decode

    generator = torch.Generator(device=device).manual_seed(0)
    done = tokens = 0
    _sync(device)
    start = time.perf_counter()
    while done < sentences:
        rows = min(batch_size, sentences - done)
        z = None
        if model.is_vae:
            z = torch.randn(rows, model.latent_dim, device=device, generator=generator)
        with contextlib.nullcontext() if cache else recomputing_prefix(model):
            out = greedy_decode(model, z, bos_id=bos_id, eos_id=-1, max_len=max_len,
                                batch_size=None if model.is_vae else rows)
        tokens += sum(map(len, out))
        done += rows
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"sentences_per_s": done / elapsed, "sentences": done, "seconds": elapsed,
            "mean_length": tokens / done}


# ---------------------------------------------------------------------------------------------
# The whole benchmark


def run_benchmark(
    config: Config,
    *,
    seconds: float = 30.0,
    warmup_steps: int = 20,
    decode_sentences: int = 1000,
    iw_samples: int = 500,
    iw_sentences: int | None = 200,
    reference_sentences: int = 50,
    matmul_seconds: float = 2.0,
    decode_length: int = 40,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every measurement on ``config`` (its model, data, batch size, device and amp).

    Args:
        seconds: timed training seconds after warm-up.
        iw_sentences: test sentences for the IW-NLL timing (None: the whole split, which at
            K = 500 on PTB takes tens of minutes on a CPU; the table then extrapolates).
        reference_sentences: test sentences timed with the He et al. protocol (it is slow).
        decode_length: tokens per greedy decode (no end token stops one).

    Returns:
        A dict of figures; :func:`format_table` prints it.
    """
    device = resolve_device(config.train.device)
    check_rnn_precision(config.train.amp, device, has_rnn=config.model.uses_rnn())
    corpus: Corpus = build_corpus(config.data, splits=("train", "valid", "test"), log=log)
    tokenizer = corpus.tokenizer
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, tokenizer.vocab_size, tokenizer.pad_id).to(device)
    train_ids = corpus.ids["train"]
    mean_length = sum(map(len, train_ids)) / max(1, len(train_ids)) + 1  # words + eos
    flops = flops_per_token(config.model, tokenizer.vocab_size, mean_length)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    results: dict[str, Any] = {
        "device": str(device), "threads": torch.get_num_threads(),
        "amp": config.train.amp, "compile": config.train.compile,
        "batch_size": config.train.batch_size,
        "model": f"{_describe(config.model)}, latent {config.model.latent_dim}, "
                 f"vocab {tokenizer.vocab_size}, {sum(p.numel() for p in model.parameters()):,} "
                 "parameters",
        "flops_per_token": flops,
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(config, train=replace(config.train, out_dir=str(Path(tmp) / "run")))
        trainer = Trainer(cfg, corpus, model, device, progress=False, log=log)
        log("timing training ...")
        results["train"] = train_throughput(trainer, warmup_steps=warmup_steps, seconds=seconds,
                                            progress=log)
    results["train_peak_memory"] = peak_memory_bytes(device)
    log("timing greedy decoding ...")
    results["decode"] = decode_throughput(model, bos_id=tokenizer.bos_id, device=device,
                                          sentences=decode_sentences, max_len=decode_length)
    if config.model.decoder == "transformer":
        log("timing greedy decoding without the key/value cache ...")
        results["decode_uncached"] = decode_throughput(
            model, bos_id=tokenizer.bos_id, device=device, sentences=decode_sentences,
            max_len=decode_length, cache=False)
    if model.is_vae and iw_samples > 0:
        results["iw"] = _iw_timings(model, corpus, device, iw_samples=iw_samples,
                                    sentences=iw_sentences, reference_sentences=reference_sentences,
                                    seed=config.train.seed, log=log)
    results["peak_memory"] = peak_memory_bytes(device)
    log("measuring the matrix-multiply ceiling ...")
    results["matmul_flops"] = {"float32": matmul_rate(device, torch.float32,
                                                      seconds=matmul_seconds)}
    if config.train.amp == "bf16" or (device.type == "cuda" and config.train.amp == "auto"):
        results["matmul_flops"]["bfloat16"] = matmul_rate(device, torch.bfloat16,
                                                          seconds=matmul_seconds)
    achieved = results["train"]["tokens_per_s"] * flops["train"]
    results["train_flops"] = achieved
    results["ceiling_fraction"] = {k: achieved / v for k, v in results["matmul_flops"].items()}
    return results


def _describe(cfg: ModelConfig) -> str:
    """``LSTM emb 256, hidden 256/256``, ``transformer emb 256, 4/4 layers, 4 heads, ff 1024``."""
    sizes = f"{cfg.describe()} emb {cfg.embed_dim}"
    if cfg.uses_rnn():
        sizes += f", hidden {cfg.encoder_hidden_dim}/{cfg.decoder_hidden_dim}"
    if cfg.uses_transformer():
        layers = (f"{cfg.decoder_layers}" if cfg.model_type == "lm"
                  else f"{cfg.encoder_layers}/{cfg.decoder_layers}")
        sizes += f", {layers} layers, {cfg.heads} heads, ff {cfg.ff_dim or 4 * cfg.embed_dim}"
        if cfg.decoder == "transformer" and cfg.model_type == "vae":
            sizes += f", z by {cfg.z_conditioning}"
    return sizes


def _iw_timings(model: UnconditionedSentenceModel[Any], corpus: Corpus, device: torch.device, *, iw_samples: int,
                sentences: int | None, reference_sentences: int, seed: int,
                log: Callable[[str], None]) -> dict[str, float]:
    """Wall time of the batched IW-NLL and of the one-sentence-at-a-time protocol."""

    test = corpus.ids["test"]
    subset = test if sentences is None else test[:sentences]
    log(f"timing IW-NLL, K={iw_samples}, on {len(subset)} test sentences ...")
    _sync(device)
    start = time.perf_counter()
    ours = iw_nll(model, subset, corpus.tokenizer, samples=iw_samples, device=device, seed=seed,
                  progress=False)
    _sync(device)
    ours_seconds = time.perf_counter() - start
    # The reference protocol on the first sentences (by file order) of the same split, and the
    # batched code on exactly the same sentences, so the speed ratio compares like with like.
    ref_subset = test[:reference_sentences]
    log(f"timing the He et al. protocol on {len(ref_subset)} test sentences ...")
    start = time.perf_counter()
    iw_nll_reference(model, ref_subset, corpus.tokenizer, samples=iw_samples, device=device,
                     seed=seed)
    _sync(device)
    ref_seconds = time.perf_counter() - start
    start = time.perf_counter()
    iw_nll(model, ref_subset, corpus.tokenizer, samples=iw_samples, device=device, seed=seed,
           progress=False)
    _sync(device)
    same_seconds = time.perf_counter() - start
    return {
        "samples": iw_samples, "sentences": len(subset), "seconds": ours_seconds,
        "split_sentences": len(test),
        "split_tokens_fraction": sum(map(len, subset)) / max(1, sum(map(len, test))),
        "sentences_per_s": len(subset) / ours_seconds,
        "nll": float(ours["iw_nll"].mean()),
        "reference_sentences": len(ref_subset),
        "reference_sentences_per_s": len(ref_subset) / ref_seconds,
        "same_subset_sentences_per_s": len(ref_subset) / same_seconds,
        "speedup": ref_seconds / same_seconds,
    }


def _whole_split(iw: dict[str, Any]) -> str:
    if iw["sentences"] == iw["split_sentences"]:
        return f"{iw['seconds']:.1f} s measured ({iw['split_sentences']} sentences)"
    # Cost is proportional to target tokens, so scale by the subset's share of them.
    estimate = iw["seconds"] / iw["split_tokens_fraction"]
    return (f"~{estimate / 60:.1f} min, extrapolated by tokens from the first "
            f"{iw['sentences']} of {iw['split_sentences']} sentences (--iw-sentences 0 measures it)")


def _si(value: float, unit: str) -> str:
    """1.05e6, "FLOP" -> "1.05 MFLOP"."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.2f} {unit}"


def format_table(results: dict[str, Any]) -> str:
    """The benchmark as a two-column plain-text table."""
    train, flops = results["train"], results["flops_per_token"]
    rows = [
        ("model", results["model"]),
        ("device / threads / amp", f"{results['device']} / {results['threads']} / {results['amp']}"
                                   + (" / torch.compile" if results.get("compile") else "")),
        ("batch size", str(results["batch_size"])),
        ("training throughput", f"{train['tokens_per_s']:,.0f} target tokens/s "
                                f"({train['steps']} steps, {train['seconds']:.1f} s, "
                                f"{train['tokens_per_step']:.0f} tokens/step)"),
        ("greedy decoding", f"{results['decode']['sentences_per_s']:,.0f} sentences/s "
                            f"({results['decode']['sentences']} prior samples, "
                            f"{results['decode']['mean_length']:.1f} tokens each)"),
    ]
    if "decode_uncached" in results:
        uncached = results["decode_uncached"]["sentences_per_s"]
        rows.append(("  without the KV cache", f"{uncached:,.0f} sentences/s (the cache: "
                                               f"{results['decode']['sentences_per_s'] / uncached:.1f}x"
                                               f" at {results['decode']['mean_length']:.1f} "
                                               "tokens per sentence)"))
    if "iw" in results:
        iw = results["iw"]
        rows += [
            (f"IW-NLL, K={iw['samples']}", f"{iw['sentences_per_s']:,.1f} sentences/s; "
                                          f"{iw['sentences']} sentences in {iw['seconds']:.1f} s"),
            ("  whole test split", _whole_split(iw)),
            ("  He et al. protocol", f"{iw['reference_sentences_per_s']:,.2f} sentences/s "
                                     f"on the first {iw['reference_sentences']} sentences"),
            ("  batched, same sentences", f"{iw['same_subset_sentences_per_s']:,.1f} sentences/s"
                                          f" ({iw['speedup']:.1f}x the protocol)"),
        ]
    rows += [
        ("peak memory", f"{results['peak_memory'] / 2**20:,.0f} MiB "
                        f"(training: {results['train_peak_memory'] / 2**20:,.0f} MiB)"),
        ("FLOPs per training token", f"{_si(flops['train'], 'FLOP')} = 3 x ("
                                     f"{_si(flops['encoder'], 'FLOP')} encoder + "
                                     f"{_si(flops['decoder'], 'FLOP')} decoder + "
                                     f"{_si(flops['output'], 'FLOP')} softmax)"),
        ("training compute", _si(results["train_flops"], "FLOP/s")),
    ]
    for dtype, rate in results["matmul_flops"].items():
        rows.append((f"{dtype} matmul ceiling", f"{_si(rate, 'FLOP/s')}; training reaches "
                                                f"{100 * results['ceiling_fraction'][dtype]:.0f}%"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit("use `textvae bench` or scripts/bench.py")
