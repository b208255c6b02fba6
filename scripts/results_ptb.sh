#!/usr/bin/env bash
# Reproduce one row of RESULTS.md's PTB table: train, then evaluate on PTB test.
#   bash scripts/results_ptb.sh ROW [all|train|evaluate] [OUT_ROOT]
# ROW is one of: lm bowman cyclical freebits aggressive pretrain_freebits. Extra arguments for
# `textvae evaluate` can be given in TEXTVAE_EVAL_ARGS (e.g. "--iw-sentences 500").
# Every row trains 6 epochs in bfloat16 (train.amp=bf16; evaluation is always float32), with the
# KL schedules shortened to fit 6 epochs (1,315 steps per epoch at batch 32). The table's figures
# were measured with two rows running side by side, one thread each (OMP_NUM_THREADS=1), on a
# 2-core Xeon; set OMP_NUM_THREADS yourself to match.
set -euo pipefail
row=${1:?usage: bash scripts/results_ptb.sh ROW [all|train|evaluate] [OUT_ROOT]}
phase=${2:-all}
root=${3:-runs/results}
common=(--set train.epochs=6 --set train.amp=bf16 --set "train.out_dir=$root/$row" --no-progress)
case "$row" in
  lm)               args=(--config configs/ptb_lm.yaml) ;;
  bowman)           args=(--config configs/ptb_bowman.yaml) ;;
  cyclical)         args=(--config configs/ptb_cyclical.yaml --set train.kl.total_steps=7890) ;;
  freebits)         args=(--config configs/ptb_freebits.yaml --set train.kl.warmup_steps=2630) ;;
  # While aggressive, every outer step costs 20-100 encoder steps, and the mode only switches off
  # at a validation whose MI does not rise: validate 5 times per epoch (patiences scaled to
  # match) and stop at 50 minutes, to stay inside the table's 60-minute budget per row.
  aggressive)       args=(--config configs/ptb_aggressive.yaml --set train.kl.warmup_steps=2630
                          --set train.eval_every=263 --set train.lr_patience=10
                          --set train.early_stop_patience=25 --set train.max_minutes=50) ;;
  pretrain_freebits) args=(--config configs/ptb_pretrain_freebits.yaml --set train.pretrain_ae_steps=2630
                          --set train.kl.warmup_steps=1315) ;;
  *) echo "unknown row '$row'; choose lm bowman cyclical freebits aggressive pretrain_freebits" >&2; exit 2 ;;
esac
if [[ $phase == all || $phase == train ]]; then
  start=$(date +%s)
  textvae train "${args[@]}" "${common[@]}"
  echo "$row: training wall time $(( $(date +%s) - start )) s"
  echo "$(( $(date +%s) - start ))" > "$root/$row/train_wall_seconds"
fi
[[ $phase == all || $phase == evaluate ]] || exit 0
textvae evaluate "$root/$row" --split test --iw-samples 500 ${TEXTVAE_EVAL_ARGS:-} --no-progress
