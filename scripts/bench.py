"""Measure training, decoding and IW-NLL speed: the same code as `textvae bench`.

    python scripts/bench.py [--config configs/ptb_bowman.yaml] [--amp bf16] [--device cuda]
"""

import sys

from textvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
