"""Decode a homotopy between two sentences: the same code as `textvae interpolate`.

    python scripts/interpolate.py -c runs/quickstart "the dog barked ." "the cats ran ." [--steps 8]
"""

import sys

from textvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["interpolate", *sys.argv[1:]]))
