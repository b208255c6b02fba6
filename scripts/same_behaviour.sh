#!/usr/bin/env bash
# Behaviour unchanged? Trains the quickstart (200 steps) and mnist_vae (150 steps) with the code of
# two trees, one thread, float32, and compares every weight bit for bit and every metrics.jsonl
# row (clocks left out). For refactors (issue 32): run it with a worktree of the commit before.
#
#   git worktree add /tmp/before HEAD~1 && ln -s "$PWD/data" /tmp/before/data
#   bash scripts/same_behaviour.sh /tmp/before .
#
# mnist_vae reads data/mnist (docs/development.md links it). Exit 0 when everything is identical.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 TREE_BEFORE TREE_AFTER" >&2; exit 2; }
out=$(mktemp -d)
python=${PYTHON:-python}
for side in before after; do
  tree=$(cd "$([ $side = before ] && echo "$1" || echo "$2")" && pwd)
  mkdir -p "$out/$side"
  (cd "$tree" && export PYTHONPATH="$tree" OMP_NUM_THREADS=1 &&
   $python -m textvae train --no-progress --config quickstart --set train.max_steps=200 \
     --set train.amp=off --set train.out_dir="$out/$side/qs" > "$out/$side/qs.log" 2>&1 &&
   $python -m textvae image train --no-progress --config mnist_vae --set train.max_steps=150 \
     --set train.amp=off --set train.log_every=25 --set train.out_dir="$out/$side/mv" \
     > "$out/$side/mv.log" 2>&1) || { echo "training with $tree failed: see $out/$side" >&2; exit 1; }
done
$python - "$out" <<'PY'
import json
import sys
from pathlib import Path

from safetensors.torch import load_file

out = Path(sys.argv[1])
same = True
for run in ("qs", "mv"):
    for link in ("last", "best"):
        a, b = (load_file(str((out / side / run / link / "model.safetensors").resolve()))
                for side in ("before", "after"))
        equal = a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
        print(f"{run} {link} weights ({len(a)} tensors): {'identical' if equal else 'DIFFER'}")
        same &= equal
    rows = []
    for side in ("before", "after"):
        lines = (out / side / run / "metrics.jsonl").read_text().splitlines()
        rows.append([{k: v for k, v in json.loads(line).items()
                      if not any(c in k for c in ("second", "per_s", "minutes", "time"))}
                     for line in lines])
    equal = rows[0] == rows[1]
    print(f"{run} metrics rows ({len(rows[0])}): {'identical' if equal else 'DIFFER'}")
    same &= equal
sys.exit(0 if same else 1)
PY
