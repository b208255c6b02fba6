"""The rules that pick a sweep's recommended points (docs/training.md, "Sweeping the rate on your
corpus"). Pure: rows of :func:`textvae.text.sweep.rows.point_row` in, a :class:`Choice` out.

- **likelihood**: the VAE point with the lowest IW-NLL paired against the LM.
- **interpolation**: the VAE point with the highest reconstruction BLEU among those whose prior
  samples' forward perplexity under the LM is at most :data:`FLUENCY_RATIO` times the LM's own
  samples', and whose interior homotopy points change at least :data:`CHANGE_SHARE` of the time;
  when no point meets both, the highest BLEU of all, with a warning naming the condition it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FLUENCY_RATIO = 1.5  # issue 31's target: samples as fluent as 1.5x the LM samples' perplexity
CHANGE_SHARE = 0.9  # issue 31's target: >= 90% of interior homotopy points change


@dataclass(frozen=True)
class Choice:
    """A recommended point: its name, why it was chosen, and a warning when no point met the
    job's rules."""

    job: str
    name: str
    reason: str
    warning: str | None = None


def _vae_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("model_type") == "vae" and r.get(key) is not None]


def choose_likelihood(rows: list[dict[str, Any]]) -> Choice | None:
    """The VAE point with the lowest paired IW-NLL (None without a VAE row that has one). The
    reason says whether it is below the LM by at least two standard errors."""
    scored = _vae_rows(rows, "nll_gap_to_lm_nats")
    if not scored:
        return None
    best = min(scored, key=lambda r: r["nll_gap_to_lm_nats"])
    gap, se = best["nll_gap_to_lm_nats"], best.get("nll_gap_se_nats")
    reason = f"the lowest IW-NLL paired against the LM: {gap:+.2f}"
    if se is not None:
        below = gap <= -2 * se
        reason += (f" ± {se:.2f} nats per sentence ({'below' if below else 'not below'} the LM "
                   "by 2 standard errors)")
    return Choice("likelihood", best["name"], reason)


def _fluent(row: dict[str, Any]) -> bool:
    ratio = row.get("samples_forward_ppl_vs_lm_samples")
    return ratio is not None and ratio <= FLUENCY_RATIO


def _changing(row: dict[str, Any]) -> bool:
    share = row.get("homotopy_changed_share")
    return share is not None and share >= CHANGE_SHARE


def _failures(row: dict[str, Any]) -> list[str]:
    """What a row fails of the interpolation rules, in words."""
    out = []
    ratio = row.get("samples_forward_ppl_vs_lm_samples")
    if ratio is None:
        out.append("its prior samples' forward PPL was not measured")
    elif ratio > FLUENCY_RATIO:
        out.append(f"its prior samples' forward PPL is {ratio:.2f}x the LM samples' "
                   f"(rule: <= {FLUENCY_RATIO:g}x)")
    share = row.get("homotopy_changed_share")
    if share is None:
        out.append("its interior homotopy change share was not measured")
    elif share < CHANGE_SHARE:
        out.append(f"its interior homotopy points change {share:.0%} of the time "
                   f"(rule: >= {CHANGE_SHARE:.0%})")
    return out


def choose_interpolation(rows: list[dict[str, Any]]) -> Choice | None:
    """The highest reconstruction BLEU among the VAE points that pass both conditions, else the
    highest of all with a warning (None without a VAE row that has a BLEU)."""
    scored = _vae_rows(rows, "recon_bleu")
    if not scored:
        return None
    passing = [r for r in scored if _fluent(r) and _changing(r)]
    best = max(passing or scored, key=lambda r: r["recon_bleu"])
    reason = f"reconstruction BLEU {best['recon_bleu']:.1f}"
    if passing:
        return Choice("interpolation", best["name"], reason + (
            f", the highest of the {len(passing)} points whose samples' forward PPL is <= "
            f"{FLUENCY_RATIO:g}x the LM samples' and whose interior homotopy points change >= "
            f"{CHANGE_SHARE:.0%} of the time"))

    def count(test: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for r in scored if test(r))

    warning = (
        f"no point meets both interpolation rules (samples' forward PPL <= {FLUENCY_RATIO:g}x "
        f"the LM samples': {count(_fluent)} of {len(scored)} points; interior homotopy change "
        f"share >= {CHANGE_SHARE:.0%}: {count(_changing)} of {len(scored)}); recommending "
        f"{best['name']}, the highest BLEU, though {' and '.join(_failures(best))}")
    return Choice("interpolation", best["name"], reason + ", the highest of all points "
                  "(no point met both rules)", warning)


def choose(rows: list[dict[str, Any]]) -> dict[str, Choice]:
    """Both recommendations, by job (a job without a candidate is left out)."""
    picked = {"interpolation": choose_interpolation(rows), "likelihood": choose_likelihood(rows)}
    return {job: choice for job, choice in picked.items() if choice is not None}
