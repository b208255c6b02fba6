"""The grammar's template trees: one per combination of factors, read two ways.

The grammar, written per template (one per topic x tense x number x mood x negation;
``X?`` is optional, ``n`` is the subject number, ``t`` the tense)::

    S          -> NP[n] PRED[t,n] ADV[t]? "."                      (statement)
                | NP[n] AUX[t,n] "not" PRED[base] ADV[t]? "."      (negated statement)
                | AUX[t,n] NP[n] "not"? PRED[base] ADV[t]? "?"     (question)
    PRED[f]    -> Vt[f] NP[m] | Vi[f] PP?
    NP[n]      -> DET[n] ADJ? N[n] (PP | RC[n])?
    NP0[m]     -> DET[m] ADJ? N[m]                                  (m: either number)
    PP         -> P NP0[m]
    RC[n]      -> "that" (Vt[t',n] NP0[m] | Vi[t',n])               (own tense t')
    AUX        -> "did" | "does" | "do"

Every sentence draws all its nouns, verbs and adjectives from one topic, so the topic label
is well defined and a word from another topic's lexicon is ungrammatical.

The generator (:mod:`.generator`) and the recognizer (:mod:`.recognizer`) are two readings of
the same trees: each node knows how to sample itself and how to write itself as a regular
expression. Each node samples itself by appending words and the terminal node that produced each
word; every terminal is followed by one space in its regex, and the recognizer matches the
sentence plus a trailing space, so tokens cannot run together. The templates are finite (no
recursion), so the language is regular and the compiled regex is exact.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from textvae.text.data.grammar.lexicon import (
    ADVERBS,
    DETERMINERS,
    MOODS,
    NUMBERS,
    PREPOSITIONS,
    SLOTS,
    TENSES,
    TOPICS,
)

# Sampling probabilities. They shape the length distribution (mostly 5..20 tokens, at most 22);
# they do not change the language, which is the set of sentences with nonzero probability.
P_THE = 0.6  # "the" versus a number-marked determiner
P_ADJECTIVE = 0.4
P_NP_MODIFIER = 0.4  # a PP or relative clause after a subject or object noun
P_RELATIVE = 0.5  # relative clause rather than PP, given a modifier
P_TRANSITIVE = 0.7
P_INTRANSITIVE_PP = 0.4
P_ADVERB = 0.25


@dataclass(frozen=True, eq=False)
class Words:
    """Terminal: one word drawn uniformly from ``forms``.

    Attributes:
        forms: the word forms this position can hold.
        role: part of speech, for describing a token ("det", "noun", "verb", "adj", "aux", ...).
        slot: the lexicon slot for content words (nouns, verbs, adjectives), else None.
        topic: the topic of a content word, else None.
        flip: the other number's forms, aligned with ``forms``, where the grammar forces
            agreement (present-tense verbs, does/do, this/these, every/some); else None.
        optional: whether this token alone is an optional constituent, so dropping it leaves a
            grammatical sentence (an adjective, a one-word adverb, "not" in a question).
    """

    forms: tuple[str, ...]
    role: str
    slot: str | None = None
    topic: str | None = None
    flip: tuple[str, ...] | None = None
    optional: bool = False

    def sample(self, rng: random.Random, words: list[str], nodes: list[Words]) -> None:
        forms = self.forms
        # A one-form terminal consumes no randomness.
        words.append(forms[0] if len(forms) == 1 else forms[int(rng.random() * len(forms))])
        nodes.append(self)

    def pattern(self) -> str:
        return "(?:" + "|".join(re.escape(w) for w in self.forms) + ") "

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Seq:
    """The ``items`` one after another."""

    items: tuple[Node, ...]

    def sample(self, rng: random.Random, words: list[str], nodes: list[Words]) -> None:
        for item in self.items:
            item.sample(rng, words, nodes)

    def pattern(self) -> str:
        return "".join(item.pattern() for item in self.items)

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, eq=False)
class Opt:
    """``item`` with probability ``p``, else nothing."""

    p: float
    item: Node

    def __post_init__(self) -> None:
        # p of 0 or 1 would make the regex (which allows both) wider than the generator.
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"optional probability must be in (0, 1), got {self.p}")

    def sample(self, rng: random.Random, words: list[str], nodes: list[Words]) -> None:
        if rng.random() < self.p:
            self.item.sample(rng, words, nodes)

    def pattern(self) -> str:
        return "(?:" + self.item.pattern() + ")?"

    def children(self) -> tuple[Node, ...]:
        return (self.item,)


@dataclass(frozen=True, eq=False)
class Alt:
    """One of ``options``, chosen with probability proportional to its weight."""

    options: tuple[tuple[float, Node], ...]

    def __post_init__(self) -> None:
        if not all(w > 0.0 for w, _ in self.options):
            raise ValueError("every alternative needs a positive weight")

    def sample(self, rng: random.Random, words: list[str], nodes: list[Words]) -> None:
        r = rng.random() * sum(w for w, _ in self.options)
        for weight, node in self.options:
            r -= weight
            if r < 0.0:
                node.sample(rng, words, nodes)
                return
        self.options[-1][1].sample(rng, words, nodes)  # float round-off on the last option

    def pattern(self) -> str:
        return "(?:" + "|".join(node.pattern() for _, node in self.options) + ")"

    def children(self) -> tuple[Node, ...]:
        return tuple(node for _, node in self.options)


# Any template tree node.
Node = Words | Seq | Opt | Alt


def _either(p: float, a: Node, b: Node) -> Alt:
    return Alt(((p, a), (1.0 - p, b)))


def _both_numbers(build: Any) -> Alt:
    """A phrase whose number is free (objects, nouns inside PPs): either number, evenly."""
    return _either(0.5, build("singular"), build("plural"))


def _word(word: str, role: str, **kwargs: Any) -> Words:
    return Words((word,), role, **kwargs)


def _content(topic: str, slot: str, role: str, flip_slot: str | None = None) -> Words:
    flip = SLOTS[topic][flip_slot] if flip_slot else None
    return Words(SLOTS[topic][slot], role, slot=slot, topic=topic, flip=flip)


def _other(number: str) -> str:
    return "plural" if number == "singular" else "singular"


def _determiner(number: str) -> Alt:
    marked = Words(DETERMINERS[number], "det", flip=DETERMINERS[_other(number)])
    return _either(P_THE, _word("the", "det"), marked)


def _simple_np(topic: str, number: str) -> Seq:
    """DET ADJ? N: the noun phrase inside PPs and relative clauses (no further nesting)."""
    adjective = Words(SLOTS[topic]["adj"], "adj", slot="adj", topic=topic, optional=True)
    return Seq(
        (
            _determiner(number),
            Opt(P_ADJECTIVE, adjective),
            _content(topic, f"noun.{number}", "noun"),
        )
    )


def _pp(topic: str) -> Seq:
    return Seq((Words(PREPOSITIONS, "prep"), _both_numbers(lambda n: _simple_np(topic, n))))


def _verb(topic: str, kind: str, form: str, number: str) -> Words:
    """A verb of ``kind`` ("vt"/"vi") in ``form``: "past", "base", or "present" (agreeing)."""
    if form != "present":
        return _content(topic, f"{kind}.{form}", "verb")
    own, other = ("third", "base") if number == "singular" else ("base", "third")
    return _content(topic, f"{kind}.{own}", "verb", flip_slot=f"{kind}.{other}")


def _relative_clause(topic: str, head_number: str) -> Seq:
    """'that' + a verb agreeing with the head noun, in a tense of its own."""

    def clause(tense: str) -> Alt:
        transitive = Seq(
            (
                _verb(topic, "vt", tense, head_number),
                _both_numbers(lambda n: _simple_np(topic, n)),
            )
        )
        return _either(P_TRANSITIVE, transitive, _verb(topic, "vi", tense, head_number))

    return Seq((_word("that", "rel"), _either(0.5, clause("past"), clause("present"))))


def _np(topic: str, number: str) -> Seq:
    """DET ADJ? N (PP | RC)?: subject and object noun phrases."""
    modifier = _either(P_RELATIVE, _relative_clause(topic, number), _pp(topic))
    return Seq((*_simple_np(topic, number).items, Opt(P_NP_MODIFIER, modifier)))


def _predicate(topic: str, form: str, number: str) -> Alt:
    transitive = Seq((_verb(topic, "vt", form, number), _both_numbers(lambda n: _np(topic, n))))
    intransitive = Seq((_verb(topic, "vi", form, number), Opt(P_INTRANSITIVE_PP, _pp(topic))))
    return _either(P_TRANSITIVE, transitive, intransitive)


def _auxiliary(tense: str, number: str) -> Words:
    if tense == "past":
        return _word("did", "aux")
    own, other = ("does", "do") if number == "singular" else ("do", "does")
    return _word(own, "aux", flip=(other,))


def _adverb(tense: str) -> Alt:
    def phrase(text: str) -> Node:
        words = text.split()
        if len(words) == 1:
            return _word(words[0], "adv", optional=True)
        # Each word of "last week" is obligatory once the phrase is there: "week ." is not a
        # sentence ending.
        return Seq(tuple(_word(w, "adv") for w in words))

    phrases = ADVERBS[tense]
    return Alt(tuple((1.0, phrase(text)) for text in phrases))


class Key(NamedTuple):
    """The factors that pick one template (all labels but the length)."""

    topic: str
    tense: str
    number: str
    mood: str
    negation: bool

    def labels(self, length: int) -> dict[str, Any]:
        """The labels of a sentence of ``length`` tokens from this template.

        The generator and the recognizer both build them here, so they cannot disagree.
        """
        return {
            "topic": self.topic,
            "tense": self.tense,
            "number": self.number,
            "mood": self.mood,
            "negation": self.negation,
            "length": length,
        }


def _template(key: Key) -> Seq:
    """The whole sentence tree for one combination of factors."""
    topic, tense, number, mood, negation = key
    # After did/does/do the verb is bare; otherwise it carries tense (and, in the present, number).
    form = "base" if negation or mood == "question" else tense
    subject = _np(topic, number)
    tail = (_predicate(topic, form, number), Opt(P_ADVERB, _adverb(tense)))
    if mood == "statement":
        negator: tuple[Words, ...] = (_auxiliary(tense, number), _word("not", "neg")) if negation else ()
        return Seq((subject, *negator, *tail, _word(".", "punct")))
    # Dropping "not" from a question leaves the affirmative question, so it is optional here
    # (unlike in "the dog did not chase ...", where "did" and "not" need each other).
    negator = (_word("not", "neg", optional=True),) if negation else ()
    return Seq((_auxiliary(tense, number), subject, *negator, *tail, _word("?", "punct")))


@cache
def template_trees() -> dict[Key, Seq]:
    """Every template, by key, in a fixed order (topic, tense, number, mood, negation).

    Built once; the trees are immutable, so the generator and the recognizer share them.
    """
    keys = itertools.product(TOPICS, TENSES, NUMBERS, MOODS, (False, True))
    return {Key(*k): _template(Key(*k)) for k in keys}


def _terminals(node: Node) -> Iterator[Words]:
    if isinstance(node, Words):
        yield node
    for child in node.children():
        yield from _terminals(child)


@cache
def vocabulary() -> frozenset[str]:
    """Every token the grammar can produce (content words, function words, punctuation)."""
    return frozenset(
        w for tree in template_trees().values() for node in _terminals(tree) for w in node.forms
    )
