"""The GPU check (docs/performance.md, "GPU check"): the CUDA tests (the transformer's among
them), a training step under ``torch.cuda.set_sync_debug_mode("error")``, training throughput
(LSTM and transformer; the transformer's decoding with and without its key/value cache), the
IW-NLL at K = 500 over the whole PTB test split against the CPU, the quickstart's wall time, an
MNIST epoch, and a two-process DDP run when two GPUs exist. Writes one JSON file and prints a
table.

    bash scripts/gpu_check.sh [--dry-run] [--out DIR]

Runs from the source tree (``PYTHONPATH=.``, ``python -m textvae``) without installing, offline;
it needs data/ptb/ptb.{train,valid,test}.txt and the four MNIST files in data/mnist/.
``--dry-run`` prints every command and runs none (any machine, no torch needed).

The helper steps (``--sync-step``, ``--iw-step``) are run by the check as commands of their own.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PTB_FILES = [ROOT / "data" / "ptb" / f"ptb.{s}.txt" for s in ("train", "valid", "test")]
MNIST_FILES = [ROOT / "data" / "mnist" / f"{n}-ubyte.gz" for n in (
    "train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")]
# Modules the steps import; `datasets` is not among them (PTB is read from data/ptb/).
# safetensors holds every checkpoint's weights. pytest only runs the first step.
REQUIRED_MODULES = ("torch", "numpy", "sentencepiece", "tqdm", "yaml", "sacrebleu", "matplotlib",
                    "safetensors")
YAHOO_SIZES = ("model.embed_dim=512", "model.encoder_hidden_dim=1024",
               "model.decoder_hidden_dim=1024", "model.latent_dim=32")
BUDGET_SECONDS = 8 * 60  # the whole check; a step that would start after it is skipped
IW_CPU_SENTENCES = 30  # test sentences the CPU evaluates at K = 500 for the comparison


@dataclass
class Step:
    """One command of the check, what it measures and its target."""

    name: str
    argv: list[str]
    target: str
    timeout: int
    json_file: Path | None = None  # the figures the command writes, if any
    needs_gpus: int = 1
    needs_module: str | None = None  # skipped, not failed, without it
    run_dir: Path | None = None  # a training run's directory, removed before the step


def steps(out: Path, python: str = "python") -> list[Step]:
    """Every command of the check, in order (the list ``--dry-run`` prints)."""
    tv = [python, "-m", "textvae"]
    cuda_tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                        if "cuda.is_available" in p.read_text(encoding="utf-8"))
    bench = [*tv, "bench", "--config", "ptb_bowman", "--device", "cuda", "--seconds", "15",
             "--iw-samples", "0"]
    return [
        Step("cuda tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-k",
                            "cuda", *cuda_tests], "all pass", 150, needs_module="pytest"),
        Step("sync-free training step", [python, "scripts/gpu_check.py", "--sync-step"],
             "no host-device sync", 90),
        Step("PTB LSTM 256/256/32, batch 32", [*bench, "--batch-size", "32", "--json",
                                               str(out / "bench_b32.json")],
             ">= 100,000 target tokens/s", 120, json_file=out / "bench_b32.json"),
        Step("PTB LSTM 256/256/32, batch 128", [*bench, "--batch-size", "128", "--json",
                                                str(out / "bench_b128.json")],
             ">= 300,000 target tokens/s", 120, json_file=out / "bench_b128.json"),
        Step("PTB transformer VAE, batch 32",
             [*tv, "bench", "--config", "ptb_transformer_vae", "--device", "cuda", "--seconds",
              "15", "--iw-samples", "0", "--batch-size", "32", "--json",
              str(out / "bench_transformer.json")],
             "KV-cache greedy decoding >= 5x recomputing the prefix", 150,
             json_file=out / "bench_transformer.json"),
        Step("PTB, Yahoo sizes 512/1024/32, batch 32",
             [*bench, "--batch-size", "32", *[a for kv in YAHOO_SIZES for a in ("--set", kv)],
              "--json", str(out / "bench_yahoo.json")],
             "(no target; recorded)", 120, json_file=out / "bench_yahoo.json"),
        Step("IW-NLL K=500, whole PTB test", [python, "scripts/gpu_check.py", "--iw-step",
                                              "--json", str(out / "iw.json")],
             "<= 30 s; CPU agrees to 1e-3 nats/sentence", 240, json_file=out / "iw.json"),
        Step("quickstart wall time", [*tv, "train", "--config", "quickstart", "--device", "cuda",
                                      "--no-progress", "--set",
                                      f"train.out_dir={out / 'quickstart'}"],
             "<= 60 s", 180, run_dir=out / "quickstart"),
        Step("MNIST MLP VAE, 3 epochs", [*tv, "image", "train", "--config", "mnist_vae",
                                         "--device", "cuda", "--no-progress",
                                         "--set", "train.epochs=3",
                                         "--set", f"train.out_dir={out / 'mnist'}"],
             "<= 2 s per epoch", 120, run_dir=out / "mnist"),
        Step("DDP, 2 processes", [python, "-m", "torch.distributed.run", "--standalone",
                                  "--nproc_per_node", "2", "scripts/train.py", "--config",
                                  "quickstart", "--no-progress", "--set", "train.max_steps=200",
                                  "--set", "train.eval_every=100",
                                  "--set", f"train.out_dir={out / 'ddp'}"],
             "runs to the end", 150, needs_gpus=2, run_dir=out / "ddp"),
    ]


# ----------------------------------------------------------------------------------------------
# Helper steps, run as their own processes


def sync_step() -> int:
    """A training step on CUDA with ``set_sync_debug_mode("error")``: any op that makes the
    host wait for the device raises (tests/test_sync.py checks the same on the CPU)."""
    import tempfile

    import torch

    from textvae.text.models.sentence_vae import build_model
    from textvae.text.run.config import load_config
    from textvae.text.run.corpus import build_corpus
    from textvae.text.training.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config("quickstart", ["train.device=cuda", f"train.out_dir={tmp}/run",
                                         "train.free_bits=0.25", "train.grad_clip=5"])
        corpus = build_corpus(cfg.data, splits=("train", "valid"), log=lambda _: None)
        model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
        device = torch.device("cuda")
        trainer = Trainer(cfg, corpus, model.to(device), device, progress=False,
                          log=lambda _: None)
        batches = trainer.batches(0)
        for batch in batches[:3]:  # the optimiser's state, cuDNN's plans, the allocator
            trainer.train_batch(batch)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for batch in batches[3:8]:
                trainer.train_batch(batch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
    print("5 training steps on CUDA without a host-device sync")
    return 0


def iw_step(json_file: Path) -> int:
    """IW-NLL at K = 500 over the whole PTB test split on CUDA (timed after a warm-up), and the
    first sentences again on the CPU: per-sentence differences, in nats."""
    import torch

    from textvae.text.evaluate.iw import chunk_rule, iw_nll
    from textvae.text.models.sentence_vae import build_model
    from textvae.text.run.config import load_config
    from textvae.text.run.corpus import build_corpus

    cfg = load_config("ptb_bowman", [])
    corpus = build_corpus(cfg.data, splits=("train", "test"), log=lambda _: None)
    tok, test = corpus.tokenizer, corpus.ids["test"]
    torch.manual_seed(0)
    model = build_model(cfg.model, tok.vocab_size, tok.pad_id)
    # A few hundred steps would make the posteriors sharper; for speed and agreement an
    # initialised model does the same arithmetic.
    gpu_model = build_model(cfg.model, tok.vocab_size, tok.pad_id)
    gpu_model.load_state_dict(model.state_dict())
    gpu_model.cuda()
    device = torch.device("cuda")
    iw_nll(gpu_model, test[:50], tok, samples=500, device=device)  # warm-up
    torch.cuda.synchronize()
    rule = chunk_rule(device)
    start = time.perf_counter()
    gpu = iw_nll(gpu_model, test, tok, samples=500, device=device, seed=0)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    cpu = iw_nll(model, test[:IW_CPU_SENTENCES], tok, samples=500, seed=0)
    cpu_seconds = time.perf_counter() - start
    diff = (gpu["iw_nll"][:IW_CPU_SENTENCES] - cpu["iw_nll"]).abs()
    figures = {
        "sentences": len(test), "samples": 500, "seconds": seconds,
        "sentences_per_s": len(test) / seconds,
        "chunk_budget_gib": rule.budget_bytes / 2**30,
        "iw_nll_nats_per_sentence": float(gpu["iw_nll"].mean()),
        "cpu_sentences": IW_CPU_SENTENCES, "cpu_seconds": cpu_seconds,
        "max_abs_diff_nats": float(diff.max()), "mean_abs_diff_nats": float(diff.mean()),
    }
    json_file.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0 if figures["max_abs_diff_nats"] <= 1e-3 else 1


# ----------------------------------------------------------------------------------------------
# The check


def preflight() -> list[str]:
    """What is missing for the check, as lines to print (empty: ready)."""
    problems = [f"missing Python module {m!r}: pip install "
                f"{ {'yaml': 'pyyaml'}.get(m, m)} (offline: from a wheel)"
                for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    missing = [str(p.relative_to(ROOT)) for p in PTB_FILES + MNIST_FILES if not p.is_file()]
    if missing:
        problems.append(f"missing data files: {', '.join(missing)}")
    if not problems:
        import torch

        if not torch.cuda.is_available():
            problems.append(f"torch {torch.__version__} sees no CUDA device")
    return problems


def _figures(step: Step, seconds: float) -> dict:
    """The step's headline figures: from its JSON file, else its wall time."""
    figures: dict = {"wall_s": round(seconds, 1)}
    if step.json_file is not None and step.json_file.is_file():
        data = json.loads(step.json_file.read_text())
        if "train" in data:  # textvae bench
            figures["tokens_per_s"] = round(data["train"]["tokens_per_s"])
            figures["of_fp32_ceiling"] = round(data["ceiling_fraction"].get("float32", 0), 3)
            figures["peak_mib"] = round(data["peak_memory"] / 2**20)
            if "decode_uncached" in data:  # a transformer decoder: what the cache buys
                figures["cache_speedup"] = round(data["decode"]["sentences_per_s"]
                                                 / data["decode_uncached"]["sentences_per_s"], 1)
        else:
            figures.update({k: data[k] for k in ("seconds", "max_abs_diff_nats",
                                                 "iw_nll_nats_per_sentence") if k in data})
    return figures


def run_check(out: Path, python: str) -> int:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get(
        "PYTHONPATH")])), "TQDM_DISABLE": "1"}
    report = {
        "machine": {"gpu": torch.cuda.get_device_name(0), "gpus": gpus,
                    "torch": torch.__version__, "cuda": torch.version.cuda,
                    "cpu_cores": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "steps": [],
    }
    start_all = time.perf_counter()
    for step in steps(out, python):
        row = {"name": step.name, "command": shlex.join(step.argv), "target": step.target}
        left = BUDGET_SECONDS - (time.perf_counter() - start_all)
        if gpus < step.needs_gpus:
            row["status"] = f"skipped ({gpus} GPU)"
        elif step.needs_module and importlib.util.find_spec(step.needs_module) is None:
            row["status"] = f"skipped (no {step.needs_module})"
        elif left < 20:
            row["status"] = "skipped (out of time)"
        else:
            print(f"== {step.name}: {row['command']}", flush=True)
            if step.run_dir is not None and step.run_dir.exists():
                shutil.rmtree(step.run_dir)  # a fresh run, not a refusal to overwrite
            log = out / f"{step.name.split(',')[0].replace(' ', '_').replace('/', '-')}.log"
            begin = time.perf_counter()
            try:
                with open(log, "w") as fh:
                    rc = subprocess.run(step.argv, cwd=ROOT, env=env, stdout=fh,
                                        stderr=subprocess.STDOUT,
                                        timeout=min(step.timeout, left)).returncode
                row["status"] = "ok" if rc == 0 else f"failed (exit {rc})"
            except subprocess.TimeoutExpired:
                row["status"] = "timed out"
            seconds = time.perf_counter() - begin
            row["figures"] = _figures(step, seconds)
            row["log"] = str(log)
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            row["log_tail"] = tail
            print(f"   {row['status']} in {seconds:.1f} s", flush=True)
        report["steps"].append(row)
    report["total_s"] = round(time.perf_counter() - start_all, 1)
    json_file = out / "gpu_check.json"
    json_file.write_text(json.dumps(report, indent=2))
    print()
    print(format_table(report))
    print(f"\nfigures written to {json_file}")
    return 0 if all(r["status"] == "ok" or "GPU" in r["status"] for r in report["steps"]) else 1


def format_table(report: dict) -> str:
    lines = [f"{'step':40} {'status':22} {'figures':52} target"]
    for row in report["steps"]:
        figures = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                            for k, v in row.get("figures", {}).items())
        lines.append(f"{row['name']:40} {row['status']:22} {figures:52} {row['target']}")
    lines.append(f"total {report['total_s']} s on {report['machine']['gpu']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_check",
                        help="where the logs, runs and gpu_check.json go (default runs/gpu_check)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter the steps use")
    parser.add_argument("--sync-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--iw-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sync_step:
        return sync_step()
    if args.iw_step:
        return iw_step(args.json)
    out = args.out.resolve()
    if args.dry_run:
        for step in steps(out, "python"):
            note = "  # only with 2+ GPUs" if step.needs_gpus > 1 else ""
            print(shlex.join(step.argv) + note)
        return 0
    problems = preflight()
    if problems:
        print("gpu_check: cannot run:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    return run_check(out, args.python)


if __name__ == "__main__":
    sys.exit(main())
