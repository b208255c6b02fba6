"""Train, evaluate and resume a sweep's points, and write its outputs (``textvae sweep``).

The folder ``OUT`` holds:

- ``sweep.json``: the sweep's arguments (:class:`~textvae.text.sweep.grid.SweepSpec`), one row per
  evaluated point (:func:`~textvae.text.sweep.rows.point_row`) and the recommendations;
- ``points/NAME/``: each point's run directory (``textvae train``'s checkpoints and metrics),
  with ``config.yaml`` (its whole config), ``point.json`` (its training clock: seconds spent,
  whether it is trained, why it stopped) and ``evaluation.json`` (its ``textvae evaluate``
  report on the validation split);
- ``rate_distortion.png``, ``report.html`` and ``recommended/{interpolation,likelihood}.yaml``.

A rerun with the same arguments continues: an evaluated point is skipped, a trained one is
evaluated, a partly trained one resumes its run for what is left of its budget. Other arguments
are refused (:func:`prepare_sweep`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from textvae.core.config_types import from_dict
from textvae.core.errors import InputError
from textvae.core.files import write_json, write_text
from textvae.text.run.config import Config
from textvae.text.sweep.choose import Choice, choose
from textvae.text.sweep.grid import LM_NAME, Point, SweepSpec
from textvae.text.sweep.picture import plot_rate_distortion, write_sweep_page
from textvae.text.sweep.rows import point_row

SWEEP_FILE = "sweep.json"
POINTS = "points"
CONFIG_FILE = "config.yaml"
STATE_FILE = "point.json"
EVALUATION_FILE = "evaluation.json"
PICTURE_FILE = "rate_distortion.png"
PAGE_FILE = "report.html"
RECOMMENDED = "recommended"
SAVE_SECONDS = 30.0  # a training point's clock is saved at most this often (a hard kill loses less)
DONE_MINUTES = 0.01  # a point with less of its budget left than this is trained


def file_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PointState:
    """A point's training clock (``point.json``)."""

    train_seconds: float = 0.0
    trained: bool = False
    stopped: str | None = None
    step: int | None = None


def read_state(run_dir: Path) -> PointState:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return PointState()
    return PointState(**json.loads(path.read_text(encoding="utf-8")))


def prepare_sweep(spec: SweepSpec, out: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Everything a sweep checks before it trains: ``out`` is new, or holds a sweep made with
    the same arguments; every point's config is valid. Records the arguments in ``sweep.json``
    of a new folder.

    Returns:
        Each point's whole config, by name (:meth:`SweepSpec.point_config`).

    Raises:
        InputError: ``out`` holds a sweep made with other arguments (each named, with both
            values), or files but no sweep.
        ConfigError: a point's config is invalid (an unknown ``--set`` key, a bad value).
    """
    out = Path(out)
    saved = out / SWEEP_FILE
    if saved.is_file():
        try:
            arguments = json.loads(saved.read_text(encoding="utf-8"))["arguments"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise InputError(f"{saved} is not a sweep's record (no readable arguments): "
                             "choose another --out") from None
        differ = spec.differences(arguments)
        if differ:
            raise InputError(f"{out} holds a sweep made with other arguments: {'; '.join(differ)}. "
                             "Rerun it with its own arguments to continue it, or choose another --out")
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(f"{out} holds files but no {SWEEP_FILE}: choose another --out "
                         "(a new or empty folder)")
    lm_dir = str((out / POINTS / LM_NAME).resolve())
    configs = {p.name: spec.point_config(p, run_dir=str((out / POINTS / p.name).resolve()),
                                         lm_dir=lm_dir) for p in spec.points}
    if not saved.is_file():
        write_json(saved, {"arguments": spec.to_json(), "points": []}, make_parents=True)
    return configs


def plan_lines(spec: SweepSpec) -> list[str]:
    """The plan the sweep prints before it starts: its points, the minutes each."""
    lines = [f"sweep of {len(spec.points)} points, {spec.minutes:g} min of training: "
             f"{spec.minutes_per_point:.1f} min per point (train.max_minutes; evaluation "
             "takes time on top)"]
    for number, point in enumerate(spec.points, start=1):
        what = ("reference LM (model.model_type: lm); its tokenizer serves every point"
                if point.is_lm else
                f"VAE, KL set point {point.rate:g} nats/sentence, "
                + (f"{point.deletion:.0%} of encoder input words deleted" if point.deletion
                   else "no word deletion"))
        lines.append(f"  {number}. {point.name:<16} {what}")
    if spec.minutes_per_point < 2:
        lines.append(f"warning: {spec.minutes_per_point:.1f} min per point is short: such points "
                     "are far from trained on most corpora; give more --minutes or fewer --rates")
    return lines


def run_sweep(
    spec: SweepSpec, out: str | os.PathLike[str], configs: dict[str, dict[str, Any]], *,
    device: str | None = None, progress: bool = True, log: Callable[[str], None] = print,
    meta_extra: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Train and evaluate every point in order, continuing whatever a previous run left.

    Args:
        configs: :func:`prepare_sweep`'s.
        device: where to train and evaluate (None: each config's ``train.device``).
        meta_extra: entries for every checkpoint's meta.json (the command line).

    Returns:
        ``(rows, stopped)``: the rows of the points evaluated so far, and the reason a signal
        stopped training (``received SIGINT``), else None.
    """
    from textvae.text.training.train import train

    out = Path(out)
    rows: list[dict[str, Any]] = []
    lm_report: dict[str, Any] | None = None
    total = len(spec.points)
    for number, point in enumerate(spec.points, start=1):
        run_dir = out / POINTS / point.name
        tag = f"[{number}/{total}] {point.name}"
        evaluation = run_dir / EVALUATION_FILE
        state = read_state(run_dir)
        if evaluation.is_file():
            log(f"{tag}: evaluated already, skipped")
            report = json.loads(evaluation.read_text(encoding="utf-8"))
        else:
            if not state.trained:
                state = _train_point(train, spec, point, configs[point.name], run_dir, tag,
                                     device=device, progress=progress, log=log,
                                     meta_extra=meta_extra)
                if not state.trained:
                    return rows, state.stopped
            else:
                log(f"{tag}: trained already; evaluating")
            report = _evaluate_point(spec, point, run_dir, out / POINTS / LM_NAME,
                                     device=device or configs[point.name]["train"]["device"],
                                     progress=progress)
            log(f"{tag}: evaluated in {report['timing']['total_seconds']:.0f} s")
        if point.is_lm:
            lm_report = report
        assert lm_report is not None  # the LM is the first point
        rows.append(point_row(_point_facts(spec, point, state, out), report, lm_report))
        write_json(out / SWEEP_FILE, {"arguments": spec.to_json(), "points": rows})
    return rows, None


def _point_facts(spec: SweepSpec, point: Point, state: PointState, out: Path) -> dict[str, Any]:
    base_sets = "word_deletion" in (spec.base.get("train") or {})
    config = out / POINTS / point.name / CONFIG_FILE
    return {
        "name": point.name, "model_type": "lm" if point.is_lm else "vae",
        "rate_target": point.rate, "deletion": point.deletion,
        "overrides": point.overrides(base_sets_deletion=base_sets),
        "train_seconds": state.train_seconds, "train_steps": state.step,
        "train_stopped": state.stopped,
        "command": shlex.join(["textvae", "train", "--config", str(config),
                               "--set", f"train.out_dir=runs/{point.name}"]),
        "evaluation": str(Path(POINTS) / point.name / EVALUATION_FILE),
    }


def _train_point(train: Callable[..., Any], spec: SweepSpec, point: Point, config: dict[str, Any],
                 run_dir: Path, tag: str, *, device: str | None, progress: bool,
                 log: Callable[[str], None], meta_extra: dict[str, Any] | None) -> PointState:
    """Train a point, or resume its run for what is left of its budget; its clock is saved
    every :data:`SAVE_SECONDS` of training lines and at the end."""
    resume = (run_dir / "last").exists()
    state = read_state(run_dir) if resume else PointState()  # a fresh run restarts the clock
    left = spec.minutes_per_point - state.train_seconds / 60
    if resume and left < DONE_MINUTES:
        log(f"{tag}: its budget is spent; trained")
        state.trained = True
        write_json(run_dir / STATE_FILE, asdict(state))
        return state
    write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False), make_parents=True)
    cfg = from_dict(Config, copy.deepcopy(config))
    cfg.train.max_minutes = max(round(left, 2), DONE_MINUTES)
    if device is not None:
        cfg.train.device = device
    log(f"{tag}: {'resuming its run' if resume else 'training'}, {left:.1f} of "
        f"{spec.minutes_per_point:.1f} min left -> {run_dir}")
    start = saved_at = time.monotonic()
    before = state.train_seconds

    def clocked(message: str) -> None:
        nonlocal saved_at
        log("\n".join(f"    {line}" for line in message.splitlines()))
        now = time.monotonic()
        if now - saved_at >= SAVE_SECONDS and (run_dir / "last").exists():
            saved_at = now
            write_json(run_dir / STATE_FILE, asdict(PointState(before + now - start)))

    result = train(cfg, resume=resume, progress=progress, log=clocked, meta_extra=meta_extra)
    stopped_by_signal = result.stopped.startswith("received")
    state = PointState(before + time.monotonic() - start, not stopped_by_signal, result.stopped,
                       result.step)
    write_json(run_dir / STATE_FILE, asdict(state))
    log(f"{tag}: {result.stopped} after {result.step} steps ({state.train_seconds / 60:.1f} min "
        "in all)" + ("" if stopped_by_signal else "; evaluating on the validation split"))
    return state


def _evaluate_point(spec: SweepSpec, point: Point, run_dir: Path, lm_dir: Path, *, device: str,
                    progress: bool) -> dict[str, Any]:
    """The point's ``textvae evaluate`` report on the validation split, written to its folder:
    the IW-NLL, latent, reconstruction (valid and training sentences), homotopies, diversity,
    fluency under the LM (the LM under itself: its own samples) and, when asked, reverse
    perplexity."""
    from textvae.text.api import load
    from textvae.text.evaluate.fluency import load_reference_lm
    from textvae.text.evaluate.report import evaluate_split

    start = time.perf_counter()
    tv = load(run_dir, device=device)
    lm = tv if point.is_lm else load_reference_lm(lm_dir, tv, name=f"the sweep's LM {lm_dir}")
    report = evaluate_split(
        tv, "valid", sentences=spec.eval_sentences, seed=spec.seed, samples=spec.iw_samples,
        diversity_samples=spec.diversity_samples, quality=False, reference_lm=lm,
        reverse_ppl_samples=spec.reverse_ppl, progress=progress,
        sample_prior=spec.prior, sample_method=None if point.is_lm else spec.method)
    report["timing"]["total_seconds"] = time.perf_counter() - start
    write_json(run_dir / EVALUATION_FILE, report)
    return report


def finish_sweep(spec: SweepSpec, out: str | os.PathLike[str], rows: list[dict[str, Any]], *,
                 title: str) -> dict[str, Choice]:
    """Choose the recommended points (:func:`~textvae.text.sweep.choose.choose`) and write
    ``sweep.json``, the picture, the HTML report and the recommended configs.

    Returns:
        The choices, by job.
    """
    out = Path(out)
    choices = choose(rows)
    recommended = {}
    for job, choice in choices.items():
        path = out / RECOMMENDED / f"{job}.yaml"
        _write_recommended(path, out / POINTS / choice.name / CONFIG_FILE, job, choice,
                           stem=Path(spec.train_path).stem or "text")
        recommended[job] = {**asdict(choice), "config": str(Path(RECOMMENDED) / f"{job}.yaml")}
    picture = plot_rate_distortion(rows, out / PICTURE_FILE,
                                   chosen=[c.name for c in choices.values()])
    summary = [f"{len(spec.points)} points on {spec.train_path}"
               + (f" (validation: {spec.valid_path})" if spec.valid_path else
                  " (validation: held out from the training file)")
               + f"; {spec.minutes:g} min of training, {spec.minutes_per_point:.1f} per point; "
               f"evaluated on {_evaluated(spec)} validation sentences, "
               f"IW-NLL with K = {spec.iw_samples}, seed {spec.seed}."]
    write_sweep_page(out / PAGE_FILE, title=title, summary=summary, rows=rows, choices=choices,
                     png=picture.read_bytes())
    write_json(out / SWEEP_FILE, {"arguments": spec.to_json(), "points": rows,
                                  "recommended": recommended})
    return choices


def _evaluated(spec: SweepSpec) -> str:
    if spec.eval_sentences is None:
        return "all"
    return f"a seeded subset of {spec.eval_sentences} (or all, if fewer)"


def _write_recommended(path: Path, point_config: Path, job: str, choice: Choice, *,
                       stem: str) -> None:
    """A chosen point's whole config, trainable with ``textvae train --config`` into a new
    run directory (``runs/<corpus>_<job>``), opening with the command that runs it."""
    config = yaml.safe_load(point_config.read_text(encoding="utf-8"))
    config["train"]["out_dir"] = f"runs/{stem}_{job}"
    header = [
        f"# textvae train --config {path}",
        f"# The point textvae sweep recommends for {job}: {choice.name}, {choice.reason}.",
        f"# Its budget is the sweep's share per point (train.max_minutes: "
        f"{config['train']['max_minutes']:.3g}); raise it for a longer run. It reads the sweep's "
        "LM tokenizer (data.tokenizer.from_run), so that LM can score it "
        "(textvae evaluate --reference-lm).",
    ]
    if choice.warning:
        header.append(f"# Warning: {choice.warning}.")
    write_text(path, "\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False),
               make_parents=True)
