"""``textvae train`` and ``textvae config``: train a sentence model from a config; print the
resolved config."""

from __future__ import annotations

import argparse
import os

from textvae.cli.common import add_config_args, add_train_args, run_training


def _cmd_train(args: argparse.Namespace) -> int:
    from textvae.config import load_config
    from textvae.train import train

    cfg = load_config(args.config, args.overrides)
    status, result = run_training(args, cfg, train)
    # Under torchrun only rank 0 shows samples (the others have no run directory of their own).
    if status == 0 and cfg.model.model_type == "vae" and os.environ.get("RANK", "0") == "0":
        _show_samples(result.run_dir, cfg)
    return status


def _show_samples(run_dir, cfg) -> None:
    """End a training run with a few prior samples and one interpolation from its best model."""
    from textvae.api import load
    from textvae.data.corpus import load_sentences

    tv = load(run_dir, device=cfg.train.device)
    print("samples from N(0, I):")
    for text in tv.sample(3, seed=0):
        print(f"  {text}")
    valid = load_sentences(cfg.data, "valid").sentences
    if len(valid) >= 2:
        print(f"interpolation from '{valid[0]}' to '{valid[1]}':")
        for text in tv.interpolate(valid[0], valid[1], steps=5):
            print(f"  {text}")



def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from textvae.config import load_config, to_dict

    print(yaml.safe_dump(to_dict(load_config(args.config, args.overrides)), sort_keys=False), end="")
    return 0


def add_train_commands(commands) -> None:
    """Register ``train`` and ``config`` on the ``textvae`` subparsers."""
    train = commands.add_parser("train", help="train a sentence VAE or LM baseline from a config")
    add_train_args(train)
    train.set_defaults(func=_cmd_train)

    config = commands.add_parser("config", help="print the resolved config (defaults + file + --set)")
    add_config_args(config)
    config.set_defaults(func=_cmd_config)
