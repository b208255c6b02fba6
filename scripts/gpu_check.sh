#!/usr/bin/env bash
# The GPU check (docs/performance.md, "GPU check"): CUDA tests, a sync-free training step,
# training throughput (LSTM and transformer, the transformer's KV-cache decoding against
# recomputing the prefix), IW-NLL at K = 500 on the whole PTB test split, the quickstart's wall
# time, an MNIST epoch and (with two GPUs) DDP, in under 8 minutes. One JSON file and a table.
#
#   bash scripts/gpu_check.sh              # run it (a CUDA machine; from the source tree, offline)
#   bash scripts/gpu_check.sh --dry-run    # print every command, run none (any machine)
#   bash scripts/gpu_check.sh --out DIR    # logs, runs and gpu_check.json (default runs/gpu_check)
#
# Needs torch (CUDA), numpy, sentencepiece, tqdm, pyyaml, sacrebleu, matplotlib and safetensors
# (pytest for the tests; `datasets` is not needed), data/ptb/ptb.{train,valid,test}.txt and the
# four MNIST .gz files in data/mnist/. It says what is missing before it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" scripts/gpu_check.py "$@"
