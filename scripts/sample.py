"""Generate sentences from a trained model's prior: the same code as `textvae sample`.

    python scripts/sample.py -c runs/quickstart --n 10 [--prior aggregate] [--method sample ...]
"""

import sys

from textvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]]))
