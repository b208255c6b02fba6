"""``textvae train`` and ``textvae config``: train a sentence model on a text file or from a
config; list, show and resolve configs."""

from __future__ import annotations

import argparse
import os
import sys

from textvae.cli.common import UsageError, add_config_args, add_train_args, run_training
from textvae.core.errors import TextVAEError


def _cmd_train(args: argparse.Namespace) -> int:
    from textvae.text.run.config import load_config
    from textvae.text.training.train import train
    from textvae.text.training.train_labelled import train_labelled

    cfg = load_config(*_config_and_overrides(args))
    labelled = bool(cfg.labels.factors)
    status, result = run_training(args, cfg, train_labelled if labelled else train)
    # Under torchrun only rank 0 shows samples (the others have no run directory of their own).
    shows = cfg.model.model_type == "vae" and cfg.labels.mode != "classifier"
    if status == 0 and shows and os.environ.get("RANK", "0") == "0":
        try:
            (_show_labelled_samples if labelled else _show_samples)(result.run_dir, cfg)
        except Exception as err:  # noqa: BLE001 - the run is judged by its training, not this
            reason = str(err) if isinstance(err, TextVAEError) else f"{type(err).__name__}: {err}"
            print("textvae: warning: the run finished and its checkpoint is saved, but the "
                  f"closing samples failed: {' '.join(reason.split())}", file=sys.stderr)
    return status


def _config_and_overrides(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The config a training command means. ``--train FILE`` is the shipped ``text`` recipe (or
    the given ``--config``) over that file, into ``runs/<FILE's name>``; the user's ``--set``
    overrides come last, so they win. A bare ``textvae train`` is refused: the defaults alone are
    a long run nobody asked for (``--set`` overrides alone build on the defaults, as asked)."""
    if args.train is None:
        if args.valid is not None:
            raise UsageError("--valid needs --train FILE (the training sentences)")
        if args.config is None and not args.overrides and not args.resume:
            raise UsageError(
                "nothing to train: give --train FILE (your sentences, one per line) or --config NAME "
                "(a shipped recipe such as quickstart; `textvae config --list` shows them)"
            )
        return args.config, args.overrides
    for flag, path in (("--train", args.train), ("--valid", args.valid)):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: no such file")
    given = ["data.source=text", f"data.train_path={_yaml_string(args.train)}"]
    if args.valid is not None:
        given.append(f"data.valid_path={_yaml_string(args.valid)}")
    stem = os.path.splitext(os.path.basename(args.train))[0] or "text"
    given.append(f"train.out_dir={_yaml_string(os.path.join('runs', stem))}")
    return args.config or "text", given + args.overrides


def _yaml_string(text: str) -> str:
    """A path as a YAML string literal (a name like `null` or `1e3` stays a string)."""
    return "'" + text.replace("'", "''") + "'"


def _show_labelled_samples(run_dir, cfg) -> None:
    """End a labelled run with two prior samples for each value of its first factor."""
    from textvae.text.api import LabelledTextVAE, load

    tv = load(run_dir, device=cfg.train.device)
    if not isinstance(tv, LabelledTextVAE):  # a run with labels.factors loads as one
        raise TextVAEError(f"{run_dir} holds no labelled run")
    factor, values = next(iter(tv.label_set.factors.items()))
    print(f"samples from N(0, I) with each {factor}:")
    for value in values:
        for text in tv.sample(2, label={factor: value}, seed=0):
            print(f"  {factor}={value}: {text}")


def _show_samples(run_dir, cfg) -> None:
    """End a training run with a few prior samples and one interpolation from its best model,
    between the first two validation sentences it can encode (a sentence of only unknown
    words has no meaningful code)."""
    from textvae.text.api import load
    from textvae.text.run.corpus import load_sentences

    tv = load(run_dir, device=cfg.train.device)
    print("samples from N(0, I):")
    for text in tv.sample(3, seed=0):
        print(f"  {text}")
    ends = _encodable(tv, load_sentences(cfg.data, "valid").sentences, 2)
    if len(ends) < 2:
        print("no interpolation: fewer than two validation sentences can be encoded "
              "(each needs a word the model knows)")
        return
    print(f"interpolation from '{ends[0]}' to '{ends[1]}':")
    for text in tv.interpolate(ends[0], ends[1], steps=5):
        print(f"  {text}")


def _encodable(tv, sentences: list[str], count: int) -> list[str]:
    """The first ``count`` sentences that ``tv`` can encode (its own check, token_ids)."""
    from textvae.core.errors import InputError

    found = []
    for sentence in sentences:
        try:
            tv.token_ids([sentence])
        except InputError:  # empty, only unknown words, or too long: not an endpoint
            continue
        found.append(sentence)
        if len(found) == count:
            break
    return found



def _cmd_config(args: argparse.Namespace) -> int:
    from textvae.core.config_files import resolve_config_path, shipped_configs

    if args.list:
        configs = shipped_configs()
        width = max(map(len, configs))
        for name, description in configs.items():
            print(f"{name:<{width}}  {description}")
        return 0
    if args.show is not None:  # the file itself, comments included, to copy and edit
        print(resolve_config_path(args.show).read_text(encoding="utf-8"), end="")
        return 0
    import yaml

    from textvae.text.run.config import load_config, to_dict

    print(yaml.safe_dump(to_dict(load_config(args.config, args.overrides)), sort_keys=False), end="")
    return 0


def add_train_commands(commands) -> None:
    """Register ``train`` and ``config`` on the ``textvae`` subparsers."""
    train = commands.add_parser(
        "train", help="train a sentence VAE or LM baseline on your text (--train FILE) or from a config"
    )
    add_train_args(train)
    train.add_argument("--train", metavar="FILE",
                       help="your training sentences, one per line (with the shipped `text` recipe "
                            "unless --config is given)")
    train.add_argument("--valid", metavar="FILE",
                       help="validation sentences (default: hold out data.valid_fraction of --train)")
    train.set_defaults(func=_cmd_train)

    config = commands.add_parser(
        "config", help="list the shipped configs, show one, or print a resolved config"
    )
    add_config_args(config)
    config.add_argument("--list", action="store_true", help="list the shipped configs by name")
    config.add_argument("--show", metavar="NAME", help="print a shipped config file, comments included")
    config.set_defaults(func=_cmd_config)
