"""The points of a rate sweep and the config of each (``textvae sweep``); pure functions of the
sweep's arguments, which :class:`SweepSpec` holds.

A sweep trains, in this order, a reference language model (``model.model_type: lm``, the base
recipe otherwise) and one VAE per (rate, word deletion) pair: the KL held at the rate by the set
point (``train.kl.kind: target``, Shao et al. 2020) and a share of the encoder's input words
deleted (``train.word_deletion``, the denoising autoencoders of Shen et al. 2020). Every VAE reuses
the LM's tokenizer (``data.tokenizer.from_run``), so all points share one vocabulary and the LM
can score them all (``textvae evaluate --reference-lm``). The budget is split evenly: each
point trains for ``minutes / points`` (``train.max_minutes``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from textvae.core.config_files import apply_overrides
from textvae.core.config_types import from_dict, to_dict
from textvae.core.errors import InputError

LM_NAME = "lm"
# The keys the sweep sets for every point: a --set of one would be overwritten, so it is refused.
SWEEP_KEYS = ("data.source", "data.train_path", "data.valid_path", "data.tokenizer.from_run",
              "model.model_type", "train.out_dir", "train.max_minutes", "train.kl.kind",
              "train.kl.target", "train.kl.anneal_fraction", "train.word_deletion")


@dataclass(frozen=True)
class Point:
    """One run of the sweep: the LM (``rate`` None) or a VAE at a KL set point of ``rate`` nats
    per sentence with a ``deletion`` share of its encoder's input words deleted."""

    name: str
    rate: float | None
    deletion: float = 0.0

    @property
    def is_lm(self) -> bool:
        return self.rate is None

    def overrides(self, *, base_sets_deletion: bool = False) -> list[str]:
        """The ``key=value`` overrides that make the base recipe this point (paths aside).

        ``train.word_deletion`` is written when it is on, or when the base recipe sets it (so
        that a point without deletion turns the base's off)."""
        deletion = ([f"train.word_deletion={self.deletion:g}"]
                    if self.deletion > 0 or base_sets_deletion else [])
        if self.rate is None:
            return ["model.model_type=lm", *deletion]
        return ["model.model_type=vae", "train.kl.kind=target", f"train.kl.target={self.rate:g}",
                "train.kl.anneal_fraction=null", *deletion]


def point_name(rate: float, deletion: float) -> str:
    """``rate10_del0.3``: the VAE point at a set point of 10 nats with 30% of words deleted."""
    return f"rate{rate:g}_del{deletion:g}"


def grid(rates: tuple[float, ...], deletions: tuple[float, ...]) -> list[Point]:
    """The LM, then a VAE for every rate (outer) and deletion (inner), in the order given."""
    return [Point(LM_NAME, None)] + [Point(point_name(r, d), r, d) for r in rates
                                     for d in deletions]


def parse_numbers(text: str, what: str, *, low: float, high: float | None,
                  low_included: bool) -> tuple[float, ...]:
    """A comma-separated list of distinct numbers in a range (``3,10,30``), for ``--rates`` and
    ``--deletion``.

    Raises:
        ValueError: an empty list, a word that is no number, one out of range, or two numbers
            that name the same point (``10`` and ``10.0``).
    """
    words = [w.strip() for w in text.split(",")]
    if not text.strip() or not all(words):
        raise ValueError(f"expected a comma-separated list of {what}, got {text!r}")
    values = []
    for word in words:
        try:
            value = float(word)
        except ValueError:
            raise ValueError(f"expected a comma-separated list of {what}, got {word!r} "
                             f"in {text!r}") from None
        above = value >= low if low_included else value > low
        if not (above and (high is None or value < high)):
            bound = f"{'>=' if low_included else '>'} {low:g}"
            bound += "" if high is None else f" and < {high:g}"
            raise ValueError(f"each of {what} must be {bound}, got {word}")
        values.append(value)
    names = [f"{v:g}" for v in values]
    if len(set(names)) < len(names):
        raise ValueError(f"{what} name a value twice: {text!r}")
    return tuple(values)


def parse_rates(text: str) -> tuple[float, ...]:
    """``--rates``: KL set points in nats per sentence, each > 0."""
    return parse_numbers(text, "rates (KL nats per sentence)", low=0.0, high=None,
                         low_included=False)


def parse_deletions(text: str) -> tuple[float, ...]:
    """``--deletion``: word-deletion probabilities, each in [0, 1)."""
    return parse_numbers(text, "deletion probabilities", low=0.0, high=1.0, low_included=True)


def check_overrides(overrides: list[str]) -> None:
    """Refuse a ``--set`` of a key the sweep sets for each point (:data:`SWEEP_KEYS`), naming
    the flag that sets it instead.

    Raises:
        InputError: ``--set train.kl.target=...: the sweep sets train.kl.target (--rates)``.
    """
    flags = {"data.train_path": "--train", "data.valid_path": "--valid", "data.source": "--train",
             "train.kl.target": "--rates", "train.kl.kind": "--rates",
             "train.word_deletion": "--deletion", "train.max_minutes": "--minutes",
             "train.out_dir": "--out", "model.model_type": "the grid: one LM, then VAEs",
             "data.tokenizer.from_run": "the LM point's tokenizer",
             "train.kl.anneal_fraction": "null: the KL set point needs no annealing"}
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if key in SWEEP_KEYS:
            raise InputError(f"--set {text}: the sweep sets {key} for each point "
                             f"({flags[key]})")


@dataclass
class SweepSpec:
    """What defines a sweep: saved in ``OUT/sweep.json`` and compared on a rerun, so that a
    folder is never continued with other arguments.

    Attributes:
        train_path, valid_path: the corpus files, absolute (no ``valid_path``: the base
            recipe's ``data.valid_fraction`` of the training file is held out).
        digests: per file (``train``, ``valid``), the SHA-256 of its content.
        config: ``--config`` as given (None: the shipped ``text`` recipe).
        overrides: the ``--set`` overrides, in order.
        base: the base recipe after them, as a plain dict (a config file edited between two
            runs shows here).
        rates, deletions: the grid.
        minutes: the whole sweep's training budget.
        iw_samples, eval_sentences, diversity_samples, reverse_ppl, seed: the evaluation's
            settings (``eval_sentences`` None: the whole validation split).
        prior, method: where the VAEs' prior samples come from (``standard`` or
            ``aggregate``) and how they are decoded (``greedy`` or ``sample``); the LM samples
            ancestrally.
    """

    train_path: str
    valid_path: str | None
    digests: dict[str, str]
    config: str | None
    overrides: list[str]
    base: dict[str, Any]
    rates: tuple[float, ...]
    deletions: tuple[float, ...]
    minutes: float
    iw_samples: int = 100
    eval_sentences: int | None = 1000
    diversity_samples: int = 1000
    reverse_ppl: int = 0
    seed: int = 0
    prior: str = "standard"
    method: str = "greedy"
    points: list[Point] = field(init=False)

    def __post_init__(self) -> None:
        self.points = grid(self.rates, self.deletions)

    @property
    def minutes_per_point(self) -> float:
        """Each point's share of the budget, to the hundredth of a minute (at least that)."""
        return max(round(self.minutes / len(self.points), 2), 0.01)

    def to_json(self) -> dict[str, Any]:
        """The arguments as ``sweep.json`` keeps them (lists, not tuples)."""
        return {"train": self.train_path, "valid": self.valid_path, "digests": self.digests,
                "config": self.config, "overrides": list(self.overrides), "base": self.base,
                "rates": list(self.rates), "deletions": list(self.deletions),
                "minutes": self.minutes, "iw_samples": self.iw_samples,
                "eval_sentences": self.eval_sentences,
                "diversity_samples": self.diversity_samples, "reverse_ppl": self.reverse_ppl,
                "seed": self.seed, "prior": self.prior, "method": self.method}

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """Each argument whose saved value differs from this sweep's, as ``NAME (saved X,
        asked Y)``; the base recipe's keys one by one."""
        asked = self.to_json()
        out = []
        for key, value in asked.items():
            old = saved.get(key)
            if key == "base":
                out += [f"config key {k} (saved {a}, asked {b})"
                        for k, a, b in _dict_differences(old or {}, value)]
            elif old != value:
                out.append(f"{ARGUMENT_NAMES.get(key, key)} (saved {old}, asked {value})")
        return out

    def point_config(self, point: Point, *, run_dir: str, lm_dir: str) -> dict[str, Any]:
        """The whole config of one point (every key, as ``textvae config`` prints it): the base
        recipe, the corpus, the point's overrides, its run directory, the LM's tokenizer (VAEs)
        and its share of the budget.

        Raises:
            ConfigError: the base recipe and the point's keys do not make a valid config.
        """
        from textvae.text.run.config import Config  # torch: here, not at `textvae --help`

        cfg = copy.deepcopy(self.base)
        data = cfg.setdefault("data", {})
        data.update(source="text", train_path=self.train_path, valid_path=self.valid_path)
        sets_deletion = "word_deletion" in (cfg.get("train") or {})
        apply_overrides(cfg, point.overrides(base_sets_deletion=sets_deletion))
        data.setdefault("tokenizer", {})["from_run"] = None if point.is_lm else lm_dir
        cfg.setdefault("train", {}).update(out_dir=run_dir, max_minutes=self.minutes_per_point)
        return to_dict(from_dict(Config, cfg))


# How the differences name the arguments (the flags a user typed).
ARGUMENT_NAMES = {"train": "--train", "valid": "--valid", "digests": "the corpus files' content",
                  "config": "--config", "overrides": "--set", "rates": "--rates",
                  "deletions": "--deletion", "minutes": "--minutes",
                  "iw_samples": "--iw-samples", "eval_sentences": "--eval-sentences",
                  "diversity_samples": "--diversity-samples", "reverse_ppl": "--reverse-ppl",
                  "seed": "--seed", "prior": "--prior", "method": "--method"}


def _dict_differences(a: dict, b: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, value in ``a``, value in ``b``) for each leaf that differs."""
    out = []
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _dict_differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append((f"{prefix}{key}", x, y))
    return out
