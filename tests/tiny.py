"""A seconds-long training run for tests that need a trained model: the built-in grammar corpus
at odd, distinct sizes, in float32 (import it as ``from tiny import train_tiny``, like
``tests/sync.py``)."""

import pytest

from textvae.core.device import cpu_runs_bf16_rnns
from textvae.text.run.config import load_config
from textvae.text.training.train import train

# Tests that run an LSTM in bfloat16 on the CPU: CPUs without AVX512 (or AMX) cannot, and
# textvae refuses train.amp=bf16 there (textvae.core.device.check_rnn_precision).
BF16_RNNS = pytest.mark.skipif(
    not cpu_runs_bf16_rnns(),
    reason="this CPU's oneDNN cannot run LSTMs in bfloat16 (no AVX512 or AMX units)")

TINY_RUN = [
    "data.source=grammar",
    "data.grammar_size=200",
    "model.embed_dim=11",
    "model.encoder_hidden_dim=13",
    "model.decoder_hidden_dim=17",
    "model.latent_dim=7",
    "train.batch_size=7",
    # float32 whatever the CPU: train.amp=auto would pick bf16 on CPUs with AMX, and the tests'
    # figures must not depend on the machine (tests/core/test_device.py covers auto).
    "train.amp=off",
]


def train_tiny(out, *overrides: str):
    """Train a tiny model into ``out`` (``overrides`` win over :data:`TINY_RUN`); returns ``out``."""
    train(load_config(None, [*TINY_RUN, *overrides, f"train.out_dir={out}"]), progress=False,
          log=lambda message: None)
    return out


# Three classes with their own words, so that a few steps can tell them apart.
CLASS_WORDS = {
    "red": "apple cherry rose brick flame",
    "green": "leaf grass frog lime moss",
    "blue": "sky ocean whale ink denim",
}
SHARED_WORDS = "the a big small old new one".split()


def write_labelled_tsv(path, per_class: int = 9, *, unlabelled: int = 4, seed: int = 0):
    """``label<TAB>sentence`` lines, ``per_class`` of each of 3 classes, then ``unlabelled``
    lines without a label (no tab); returns ``path``."""
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(per_class * len(CLASS_WORDS) + unlabelled):
        label = list(CLASS_WORDS)[i % len(CLASS_WORDS)]
        words = [rng.choice(SHARED_WORDS)] + rng.sample(CLASS_WORDS[label].split(), 2) + ["."]
        text = " ".join(words)
        lines.append(text if i >= per_class * len(CLASS_WORDS) else f"{label}\t{text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def labelled_run(tmp_path, *overrides: str, mode: str = "semi_supervised", unlabelled: int = 4):
    """A tiny labelled config over TSV files in ``tmp_path`` (3 classes, latent 7)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    train_file = write_labelled_tsv(tmp_path / "train.tsv", unlabelled=unlabelled)
    valid_file = write_labelled_tsv(tmp_path / "valid.tsv", per_class=3, unlabelled=0, seed=1)
    return load_config(None, [
        *TINY_RUN, "data.source=text", f"data.train_path={train_file}", f"data.valid_path={valid_file}",
        "labels.factors=[colour]", f"labels.mode={mode}", "labels.embed_dim=5", "train.threads=1",
        "train.log_every=4", f"train.out_dir={tmp_path / 'run'}", *overrides,
    ])
