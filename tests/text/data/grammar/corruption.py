"""A measure of how strict the grammar recognizer is: corrupt generated sentences on purpose.

Only the tests use this, so it lives here rather than in textvae. It reads the generator's
per-token annotation (:class:`~textvae.text.data.grammar.generator.Derivation`) to know which
positions are optional, which agree in number and which content slot each word fills.
"""

import random
from typing import Any, NamedTuple

from textvae.text.data.grammar import TOPICS, is_grammatical
from textvae.text.data.grammar.generator import Derivation, derive
from textvae.text.data.grammar.lexicon import SLOTS

CORRUPTIONS = ("swap", "duplicate", "foreign_word", "drop", "drop_obligatory", "agreement_flip")


class _Edit(NamedTuple):
    words: list[str]
    description: str


def _corrupt(kind: str, d: Derivation, rng: random.Random) -> _Edit | None:
    """Apply one corruption of ``kind`` at a random eligible position, or None if none is."""
    words, nodes = d.words, d.nodes

    def pick(positions: list[int]) -> int | None:
        return positions[int(rng.random() * len(positions))] if positions else None

    def describe(i: int) -> str:
        return f"{nodes[i].slot or nodes[i].role} {words[i]!r}"

    def role(i: int) -> str:
        return f"{'optional' if nodes[i].optional else 'obligatory'} {describe(i)}"

    out = list(words)
    if kind == "swap":
        i = pick([i for i in range(len(words) - 1) if words[i] != words[i + 1]])
        if i is None:
            return None
        out[i], out[i + 1] = out[i + 1], out[i]
        return _Edit(out, f"swapped {describe(i)} and {describe(i + 1)}")
    if kind == "duplicate":
        i = pick(list(range(len(words))))
        assert i is not None  # sentences are never empty
        out.insert(i, words[i])
        return _Edit(out, f"duplicated {role(i)}")
    if kind == "foreign_word":
        i = pick([i for i, node in enumerate(nodes) if node.slot is not None])
        if i is None:
            return None
        slot, topic = nodes[i].slot, nodes[i].topic
        others = [t for t in TOPICS if t != topic]
        other = others[int(rng.random() * len(others))]
        forms = SLOTS[other][slot]  # type: ignore[index]
        out[i] = forms[int(rng.random() * len(forms))]
        return _Edit(out, f"replaced {topic} {slot} {words[i]!r} with {other} {out[i]!r}")
    if kind in ("drop", "drop_obligatory"):
        eligible = range(len(words))
        if kind == "drop_obligatory":
            eligible = [i for i in eligible if not nodes[i].optional]
        i = pick(list(eligible))
        if i is None:
            return None
        del out[i]
        return _Edit(out, f"dropped {role(i)}")
    if kind == "agreement_flip":
        flips = {
            i: node.flip[node.forms.index(words[i])]
            for i, node in enumerate(nodes)
            if node.flip is not None and node.flip[node.forms.index(words[i])] != words[i]
        }
        i = pick(sorted(flips))
        if i is None:
            return None
        out[i] = flips[i]
        return _Edit(out, f"changed {nodes[i].role} {words[i]!r} to {out[i]!r}")
    raise ValueError(f"unknown corruption {kind!r}; expected one of {CORRUPTIONS}")


def corruption_report(n: int = 2000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Measure how often :func:`is_grammatical` rejects systematically corrupted sentences.

    Each of ``n`` generated sentences gets one corruption of each kind, at a random eligible
    position (sentences with no eligible position are not counted for that kind):

    - ``swap``: two adjacent, different tokens swapped;
    - ``duplicate``: one token repeated in place;
    - ``foreign_word``: a noun, verb or adjective replaced by the same slot (part of speech and
      inflection) from another topic;
    - ``drop``: one token removed;
    - ``drop_obligatory``: one token removed where the generator marked it obligatory;
    - ``agreement_flip``: a token whose form the grammar ties to a noun's number (present-tense
      verb, does/do, this/these, every/some) changed to the other number's form.

    Args:
        n: number of sentences to corrupt.
        seed: seed for generation and for choosing the corruptions.

    Returns:
        For each kind: ``tried``, ``rejected``, ``rejection_rate`` (NaN if nothing was tried) and
        ``accepted_examples``: up to 3 dicts with ``original``, ``corrupted`` and ``reason``.
    """
    rng = random.Random(f"corrupt:{seed}")
    report: dict[str, dict[str, Any]] = {
        kind: {"tried": 0, "rejected": 0, "accepted_examples": []} for kind in CORRUPTIONS
    }
    for derivation in derive(n, seed):
        for kind in CORRUPTIONS:
            edit = _corrupt(kind, derivation, rng)
            if edit is None:
                continue
            entry = report[kind]
            entry["tried"] += 1
            corrupted = " ".join(edit.words)
            if not is_grammatical(corrupted):
                entry["rejected"] += 1
            elif len(entry["accepted_examples"]) < 3:
                entry["accepted_examples"].append(
                    {
                        "original": " ".join(derivation.words),
                        "corrupted": corrupted,
                        "reason": edit.description,
                    }
                )
    for entry in report.values():
        entry["rejection_rate"] = (
            entry["rejected"] / entry["tried"] if entry["tried"] else float("nan")
        )
    return report


def format_corruption_report(report: dict[str, dict[str, Any]]) -> str:
    """Render :func:`corruption_report` output as a small text table plus accepted examples."""
    lines = [f"{'corruption':<16} {'tried':>6} {'rejected':>8} {'rate':>7}"]
    for kind, entry in report.items():
        lines.append(
            f"{kind:<16} {entry['tried']:>6} {entry['rejected']:>8} {entry['rejection_rate']:>7.4f}"
        )
    examples = [(kind, ex) for kind, entry in report.items() for ex in entry["accepted_examples"]]
    if examples:
        lines.append("accepted corruptions:")
        for kind, ex in examples:
            lines.append(f"  [{kind}] {ex['corrupted']!r}  <- {ex['original']!r}  ({ex['reason']})")
    return "\n".join(lines)
