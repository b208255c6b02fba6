"""Train a sentence VAE: the same code as `textvae train`.

    python scripts/train.py --config configs/quickstart.yaml [--set train.lr=3e-4 ...] [--resume]
"""

import sys

from textvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
