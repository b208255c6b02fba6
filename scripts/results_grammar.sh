#!/usr/bin/env bash
# Reproduce one row of RESULTS.md's table for the built-in grammar corpus: train, then evaluate
# on its test split (every sentence, K = 500, with the grammar quality report).
#   bash scripts/results_grammar.sh ROW [all|train|evaluate] [OUT_ROOT]
# ROW is one of: lm (the quickstart's decoder without a latent), quickstart, quickstart_recon.
# The configs' max_minutes guard is lifted so that every run takes its full step count whatever
# the machine's speed; the runs are then deterministic for a given thread count.
set -euo pipefail
row=${1:?usage: bash scripts/results_grammar.sh ROW [all|train|evaluate] [OUT_ROOT]}
phase=${2:-all}
root=${3:-runs/results_grammar}
common=(--set "train.out_dir=$root/$row" --set train.max_minutes=null --no-progress)
case "$row" in
  lm)               args=(--config configs/quickstart.yaml --set model.model_type=lm) ;;
  quickstart)       args=(--config configs/quickstart.yaml) ;;
  quickstart_recon) args=(--config configs/quickstart_recon.yaml) ;;
  *) echo "unknown row '$row'; choose lm quickstart quickstart_recon" >&2; exit 2 ;;
esac
if [[ $phase == all || $phase == train ]]; then
  start=$(date +%s)
  textvae train "${args[@]}" "${common[@]}"
  echo "$row: training wall time $(( $(date +%s) - start )) s"
  echo "$(( $(date +%s) - start ))" > "$root/$row/train_wall_seconds"
fi
[[ $phase == all || $phase == evaluate ]] || exit 0
textvae evaluate "$root/$row" --split test --iw-samples 500 ${TEXTVAE_EVAL_ARGS:-} --no-progress
