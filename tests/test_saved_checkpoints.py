"""Checkpoints written by textvae before the package moved into core/, text/ and image/ (issue
32) still load and compute what they computed then.

tests/saved_before_move/text is a tiny text run (3 steps of tests/tiny.py's sizes) saved by
textvae at 09732e0, and text_encodings.safetensors the posterior of two sentences under it,
computed by that same version. tests/image/run/saved_before_split holds that version's image runs.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file

import textvae
from textvae.cli import main

SAVED = Path(__file__).parent / "saved_before_move"
SENTENCES = ["the dog barked .", "did the cats not sleep ?"]


def test_a_text_checkpoint_from_before_the_move_loads_and_encodes_as_it_did():
    tv = textvae.load(SAVED / "text", device="cpu")
    mu, logvar = tv.encode(SENTENCES)
    then = load_file(str(SAVED / "text_encodings.safetensors"))
    assert mu.shape == (2, 7)
    torch.testing.assert_close(mu, then["mu"], rtol=0, atol=1e-6)
    torch.testing.assert_close(logvar, then["logvar"], rtol=0, atol=1e-6)
    # The decoder reads it as it did then: this greedy decode of z = 0 was printed by 09732e0.
    assert tv.decode(torch.zeros(1, 7), max_len=6) == ["captains dish dish dish dish dish"]


def test_the_command_line_samples_from_it(capsys):
    assert main(["sample", "-c", str(SAVED / "text"), "--n", "3", "--seed", "5",
                 "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.strip() for line in lines)
