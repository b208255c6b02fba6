#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it into a fresh virtual environment,
# and from an empty folder (no clone, no configs/, no data/) train by config name and on a raw
# text file, then sample, interpolate, encode and evaluate. Fails if anything needs the repository.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet torch==2.13.0
"$work/venv/bin/pip" install --quiet "$work"/dist/textvae-*.whl
export PATH="$work/venv/bin:$PATH"
mkdir "$work/empty" && cd "$work/empty"
python -c "import textvae, sys; assert '$repo' not in textvae.__file__, textvae.__file__; print('textvae from', textvae.__file__)"

textvae --version
textvae config --list > "$work/configs.txt"  # whole: grep -q would close the pipe at its match
grep -q "^quickstart " "$work/configs.txt"
small="--set train.max_minutes=null --set train.eval_every=25 --set train.checkpoint_every=25 --no-progress"
# 1. A shipped config by name, with tiny budgets.
textvae train --config quickstart --set data.grammar_size=600 --set train.max_steps=50 $small
textvae sample -c runs/quickstart --n 3
textvae evaluate runs/quickstart --split valid --iw-samples 5 --sentences 20 --no-quality --no-progress
# 2. A raw text file, no config written by the user.
python - <<'PY'
import random
rng = random.Random(0)
subjects = ["The dog", "My sister", "A tall man", "the Teacher", "Our neighbours"]
verbs = ["bought", "sold", "painted", "found", "lost"]
objects = ["a red car", "the old house", "two guitars", "my bike", "a small boat"]
ends = [".", "!", "?", ", yesterday.", " again."]
with open("my_sentences.txt", "w", encoding="utf-8") as fh:
    for _ in range(700):
        fh.write(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}{rng.choice(ends)}\n")
PY
textvae train --train my_sentences.txt --set train.epochs=2 $small
test -d runs/my_sentences/best
textvae interpolate -c runs/my_sentences "The dog bought a red car." "My sister lost two guitars!"
textvae encode -c runs/my_sentences "The dog found my bike?" --out codes.npy
python -c "import numpy as np; assert np.load('codes.npy').shape == (1, 64)  # the text recipe's latent"
# 3. One folder to share: exported, moved elsewhere with the training file gone, it still samples
#    (from its stored aggregate prior: without the data nothing could be fitted), interpolates
#    and encodes.
textvae export runs/my_sentences --out exported
rm my_sentences.txt && mkdir elsewhere && mv exported elsewhere/model && rm -rf runs
textvae sample -c elsewhere/model --n 3 --prior aggregate
textvae interpolate -c elsewhere/model "The dog bought a red car." "My sister lost two guitars!" --steps 4
textvae encode -c elsewhere/model "A tall man sold the old house." > codes.jsonl
python -c "import textvae; tv = textvae.from_pretrained('elsewhere/model', device='cpu'); print(tv.sample(2, seed=1))"
echo "wheel smoke test passed"
