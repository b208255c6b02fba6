"""``textvae export|convert``: models people can share (docs/sharing.md). Thin wrappers over
:meth:`textvae.text.api.TextVAE.save_pretrained` and :func:`textvae.core.checkpoint.convert_checkpoint`
(torch is imported only inside the handlers)."""

from __future__ import annotations

import argparse
import sys
import warnings

from textvae.cli.common import check_output_folder, use_free_cores


def _cmd_export(args: argparse.Namespace) -> int:
    check_output_folder(args.out, "--out")  # before the minutes of loading and fitting, not after
    from textvae.text.api import load
    from textvae.text.api.hub import upload
    from textvae.text.api.pretrained import check_new_folder

    check_new_folder(args.out)
    use_free_cores()
    tv = load(args.run, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = tv.save_pretrained(args.out, repo_id=args.push_to_hub,
                                    log=lambda message: print(message, file=sys.stderr))
    for warning in caught:
        print(f"textvae: warning: {warning.message}", file=sys.stderr)
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    print(f"saved {tv.path} as {folder}: {', '.join(files)}")
    if args.push_to_hub:
        url = upload(folder, args.push_to_hub, private=args.private or None)
        print(f"pushed to the Hugging Face Hub: {url}")
    print(f"load it with textvae.from_pretrained({(args.push_to_hub or str(folder))!r})")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from textvae.core.checkpoint import LEGACY_WEIGHTS_FILE, WEIGHTS_FILE, convert_checkpoint
    from textvae.text.api.prior import (
        AGGREGATE_PRIOR_FILE,
        LEGACY_AGGREGATE_PRIOR_FILE,
        convert_prior_file,
    )

    for directory, converted in convert_checkpoint(args.path):
        if converted:
            print(f"{directory}: converted {LEGACY_WEIGHTS_FILE} to {WEIGHTS_FILE} "
                  f"(and removed {LEGACY_WEIGHTS_FILE})")
        else:
            print(f"{directory}: already converted ({WEIGHTS_FILE}); nothing to do")
        if convert_prior_file(directory):
            print(f"{directory}: converted {LEGACY_AGGREGATE_PRIOR_FILE} to {AGGREGATE_PRIOR_FILE}")
    return 0


def add_sharing_commands(commands) -> None:
    """Register ``export`` and ``convert`` on the ``textvae`` subparsers."""
    export = commands.add_parser(
        "export", help="save a trained model as one shareable folder (and push it to the Hub)",
        description="Write RUN's model as one self-contained folder: weights (safetensors), "
        "config, tokenizer, the fitted aggregate prior and a model card. It loads with "
        "textvae.from_pretrained(DIR) or -c DIR, without the training data.",
    )
    export.add_argument("run", metavar="RUN", help="a run directory (its best, else last) or a checkpoint")
    export.add_argument("--out", required=True, metavar="DIR", help="the folder to create (new or empty)")
    export.add_argument("--push-to-hub", metavar="REPO_ID",
                        help="also upload the folder to this Hugging Face Hub repo (owner/name)")
    export.add_argument("--private", action="store_true", help="with --push-to-hub: a new repo is private")
    export.add_argument("--device", default="cpu", help="where to fit the aggregate prior (default cpu)")
    export.set_defaults(func=_cmd_export)

    convert = commands.add_parser(
        "convert", help="rewrite an older checkpoint's model.pt as model.safetensors, in place",
    )
    convert.add_argument("path", metavar="PATH",
                         help="a checkpoint directory, or a run directory (all its checkpoints)")
    convert.set_defaults(func=_cmd_convert)
