"""The built-in grammar corpus: English-like sentences whose factors are known exactly.

textvae's default dataset needs no download, and every sentence comes with its generating
factors (topic, tense, subject number, mood, negation, length). Because the language is
defined by a grammar, text decoded from a VAE can be checked exactly with
:func:`is_grammatical`.

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
is well defined and a word from another topic's lexicon is ungrammatical. Each word form
belongs to exactly one lexicon slot (checked at import), so the labels of a sentence can be
read back from its text (:func:`parse`).

The generator and the recognizer are two readings of the same template trees: each node
knows how to sample itself and how to write itself as a regular expression. The templates
are finite (no recursion), so the language is regular and the compiled regex is exact.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from textvae.errors import DataError

__all__ = [
    "CORRUPTIONS",
    "LEXICON",
    "TOPICS",
    "GrammarSentence",
    "TopicLexicon",
    "Verb",
    "corruption_report",
    "format_corruption_report",
    "generate",
    "grammar_splits",
    "is_grammatical",
    "parse",
    "vocabulary",
    "write_corpus",
]

# ---------------------------------------------------------------------------------------------
# Lexicon: the only place where words are listed. Templates, vocabulary and corruptions all
# read these tables.
# ---------------------------------------------------------------------------------------------


class Verb(NamedTuple):
    """The three forms of a verb that the grammar uses."""

    base: str  # "chase": plural present, and after did/does/do
    third: str  # "chases": third-person singular present
    past: str  # "chased": past, for both numbers


@dataclass(frozen=True)
class TopicLexicon:
    """The content words of one topic.

    Attributes:
        nouns: (singular, plural) pairs.
        transitive: verbs that take an object noun phrase.
        intransitive: verbs that take none (optionally a prepositional phrase).
        adjectives: prenominal adjectives.
    """

    nouns: tuple[tuple[str, str], ...]
    transitive: tuple[Verb, ...]
    intransitive: tuple[Verb, ...]
    adjectives: tuple[str, ...]

    def content_words(self) -> frozenset[str]:
        """Every noun, verb and adjective form of this topic."""
        verbs = self.transitive + self.intransitive
        return frozenset(
            itertools.chain(itertools.chain.from_iterable(self.nouns), *verbs, self.adjectives)
        )


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    """'dog dogs, mouse mice' -> (('dog', 'dogs'), ('mouse', 'mice'))."""
    return tuple((s, p) for s, p in (item.split() for item in spec.split(",")))


def _verbs(spec: str) -> tuple[Verb, ...]:
    """'bite bites bit, ...' -> (Verb('bite', 'bites', 'bit'), ...)."""
    return tuple(Verb(*item.split()) for item in spec.split(","))


LEXICON: dict[str, TopicLexicon] = {
    "animals": TopicLexicon(
        nouns=_pairs(
            "dog dogs, cat cats, horse horses, rabbit rabbits, fox foxes, wolf wolves,"
            " mouse mice, goose geese, bird birds, owl owls, cow cows, pig pigs, goat goats,"
            " duck ducks, frog frogs, bear bears, lion lions, tiger tigers,"
            " squirrel squirrels, turtle turtles"
        ),
        transitive=_verbs(
            "chase chases chased, bite bites bit, follow follows followed,"
            " watch watches watched, scare scares scared, hunt hunts hunted,"
            " lick licks licked, catch catches caught, see sees saw, sniff sniffs sniffed"
        ),
        intransitive=_verbs(
            "sleep sleeps slept, bark barks barked, howl howls howled, hide hides hid,"
            " growl growls growled"
        ),
        adjectives=tuple(
            "furry wild hungry sleepy tiny fierce spotted brown shy gentle striped playful".split()
        ),
    ),
    "kitchen": TopicLexicon(
        nouns=_pairs(
            "chef chefs, baker bakers, waiter waiters, knife knives, spoon spoons, pan pans,"
            " pot pots, oven ovens, onion onions, tomato tomatoes, potato potatoes, egg eggs,"
            " cake cakes, loaf loaves, bowl bowls, plate plates, carrot carrots,"
            " lemon lemons, kettle kettles, dish dishes"
        ),
        transitive=_verbs(
            "chop chops chopped, stir stirs stirred, bake bakes baked, boil boils boiled,"
            " fry fries fried, slice slices sliced, peel peels peeled, wash washes washed,"
            " taste tastes tasted, mix mixes mixed"
        ),
        intransitive=_verbs(
            "simmer simmers simmered, sizzle sizzles sizzled, burn burns burned,"
            " rise rises rose, melt melts melted"
        ),
        adjectives=tuple(
            "hot sharp fresh salty sweet sour crispy greasy spicy ripe frozen dirty".split()
        ),
    ),
    "sports": TopicLexicon(
        nouns=_pairs(
            "player players, coach coaches, referee referees, goalie goalies, team teams,"
            " fan fans, ball balls, bat bats, racket rackets, net nets, goal goals,"
            " match matches, trophy trophies, medal medals, runner runners,"
            " striker strikers, captain captains, glove gloves, helmet helmets,"
            " whistle whistles"
        ),
        transitive=_verbs(
            "kick kicks kicked, throw throws threw, pass passes passed,"
            " tackle tackles tackled, win wins won, lose loses lost, block blocks blocked,"
            " score scores scored, defend defends defended, train trains trained"
        ),
        intransitive=_verbs(
            "run runs ran, jump jumps jumped, sprint sprints sprinted, cheer cheers cheered,"
            " stretch stretches stretched"
        ),
        adjectives=tuple(
            "fast strong tired tall rival proud nervous skilled young injured lucky muddy".split()
        ),
    ),
    "music": TopicLexicon(
        nouns=_pairs(
            "singer singers, drummer drummers, pianist pianists, guitarist guitarists,"
            " band bands, choir choirs, song songs, piano pianos, guitar guitars,"
            " drum drums, violin violins, melody melodies, album albums, concert concerts,"
            " chord chords, flute flutes, stage stages, audience audiences,"
            " microphone microphones, trumpet trumpets"
        ),
        transitive=_verbs(
            "sing sings sang, play plays played, hum hums hummed, compose composes composed,"
            " record records recorded, tune tunes tuned, strum strums strummed,"
            " conduct conducts conducted, practice practices practiced, write writes wrote"
        ),
        intransitive=_verbs(
            "dance dances danced, clap claps clapped, bow bows bowed,"
            " rehearse rehearses rehearsed, perform performs performed"
        ),
        adjectives=tuple(
            "loud quiet famous gifted soft catchy jazzy classical electric acoustic cheerful"
            " haunting".split()
        ),
    ),
}

TOPICS: tuple[str, ...] = tuple(LEXICON)
TENSES = ("past", "present")
NUMBERS = ("singular", "plural")
MOODS = ("statement", "question")

# Function words, shared by all topics. "the" fits both numbers; the others agree with the noun,
# aligned by index so that an agreement flip is a lookup (this <-> these, every <-> some).
_DETERMINERS = {"singular": ("this", "every"), "plural": ("these", "some")}
_PREPOSITIONS = ("near", "behind", "beside", "with", "without", "under")
_ADVERBS = {
    "past": ("yesterday", "earlier", "last night", "last week"),
    "present": ("today", "now", "often", "every day"),
}

# Sampling probabilities. They shape the length distribution (mostly 5..20 tokens, at most 22);
# they do not change the language, which is the set of sentences with nonzero probability.
P_QUESTION = 0.3
P_NEGATION = 0.3
P_THE = 0.6  # "the" versus a number-marked determiner
P_ADJECTIVE = 0.4
P_NP_MODIFIER = 0.4  # a PP or relative clause after a subject or object noun
P_RELATIVE = 0.5  # relative clause rather than PP, given a modifier
P_TRANSITIVE = 0.7
P_INTRANSITIVE_PP = 0.4
P_ADVERB = 0.25


def _slot_table() -> dict[str, dict[str, tuple[str, ...]]]:
    """topic -> slot -> word forms. A slot is a part of speech with its inflection.

    Raises:
        ValueError: if a word form appears in two slots (or is also a function word), or a
            verb or noun has two equal forms; either would make the parse, and so the
            labels, ambiguous.
    """
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for topic, lex in LEXICON.items():
        slots = {
            "noun.singular": tuple(s for s, _ in lex.nouns),
            "noun.plural": tuple(p for _, p in lex.nouns),
            "adj": lex.adjectives,
        }
        for kind, verbs in (("vt", lex.transitive), ("vi", lex.intransitive)):
            for form in Verb._fields:
                slots[f"{kind}.{form}"] = tuple(getattr(v, form) for v in verbs)
        table[topic] = slots
    function_words = {"the", "that", "did", "does", "do", "not", ".", "?"}
    function_words.update(*_DETERMINERS.values(), _PREPOSITIONS)
    for phrases in _ADVERBS.values():
        function_words.update(w for phrase in phrases for w in phrase.split())
    seen: dict[str, str] = {w: "function word" for w in function_words}
    for topic, slots in table.items():
        for slot, forms in slots.items():
            for word in forms:
                if word in seen:
                    raise ValueError(f"{word!r} is both {seen[word]} and {topic}/{slot}")
                seen[word] = f"{topic}/{slot}"
    return table


_SLOTS = _slot_table()

# ---------------------------------------------------------------------------------------------
# Template trees. Each node samples itself (appending words and the terminal node that produced
# each word) and writes itself as a regex. Every terminal is followed by one space in the regex,
# and the recognizer matches the sentence plus a trailing space, so tokens cannot run together.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Words:
    """Terminal: one word drawn uniformly from ``forms``.

    Attributes:
        forms: the word forms this position can hold.
        role: part of speech, for reports ("det", "noun", "verb", "adj", "aux", ...).
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

    def sample(self, rng: random.Random, words: list[str], nodes: list[_Words]) -> None:
        forms = self.forms
        # A one-form terminal consumes no randomness.
        words.append(forms[0] if len(forms) == 1 else forms[int(rng.random() * len(forms))])
        nodes.append(self)

    def pattern(self) -> str:
        return "(?:" + "|".join(re.escape(w) for w in self.forms) + ") "

    def children(self) -> tuple[_Node, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class _Seq:
    items: tuple[_Node, ...]

    def sample(self, rng: random.Random, words: list[str], nodes: list[_Words]) -> None:
        for item in self.items:
            item.sample(rng, words, nodes)

    def pattern(self) -> str:
        return "".join(item.pattern() for item in self.items)

    def children(self) -> tuple[_Node, ...]:
        return self.items


@dataclass(frozen=True, eq=False)
class _Opt:
    p: float
    item: _Node

    def __post_init__(self) -> None:
        # p of 0 or 1 would make the regex (which allows both) wider than the generator.
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"optional probability must be in (0, 1), got {self.p}")

    def sample(self, rng: random.Random, words: list[str], nodes: list[_Words]) -> None:
        if rng.random() < self.p:
            self.item.sample(rng, words, nodes)

    def pattern(self) -> str:
        return "(?:" + self.item.pattern() + ")?"

    def children(self) -> tuple[_Node, ...]:
        return (self.item,)


@dataclass(frozen=True, eq=False)
class _Alt:
    options: tuple[tuple[float, _Node], ...]

    def __post_init__(self) -> None:
        if not all(w > 0.0 for w, _ in self.options):
            raise ValueError("every alternative needs a positive weight")

    def sample(self, rng: random.Random, words: list[str], nodes: list[_Words]) -> None:
        r = rng.random() * sum(w for w, _ in self.options)
        for weight, node in self.options:
            r -= weight
            if r < 0.0:
                node.sample(rng, words, nodes)
                return
        self.options[-1][1].sample(rng, words, nodes)  # float round-off on the last option

    def pattern(self) -> str:
        return "(?:" + "|".join(node.pattern() for _, node in self.options) + ")"

    def children(self) -> tuple[_Node, ...]:
        return tuple(node for _, node in self.options)


_Node = _Words | _Seq | _Opt | _Alt


def _either(p: float, a: _Node, b: _Node) -> _Alt:
    return _Alt(((p, a), (1.0 - p, b)))


def _both_numbers(build: Any) -> _Alt:
    """A phrase whose number is free (objects, nouns inside PPs): either number, evenly."""
    return _either(0.5, build("singular"), build("plural"))


def _word(word: str, role: str, **kwargs: Any) -> _Words:
    return _Words((word,), role, **kwargs)


def _content(topic: str, slot: str, role: str, flip_slot: str | None = None) -> _Words:
    flip = _SLOTS[topic][flip_slot] if flip_slot else None
    return _Words(_SLOTS[topic][slot], role, slot=slot, topic=topic, flip=flip)


def _other(number: str) -> str:
    return "plural" if number == "singular" else "singular"


def _determiner(number: str) -> _Alt:
    marked = _Words(_DETERMINERS[number], "det", flip=_DETERMINERS[_other(number)])
    return _either(P_THE, _word("the", "det"), marked)


def _simple_np(topic: str, number: str) -> _Seq:
    """DET ADJ? N: the noun phrase inside PPs and relative clauses (no further nesting)."""
    adjective = _Words(_SLOTS[topic]["adj"], "adj", slot="adj", topic=topic, optional=True)
    return _Seq(
        (
            _determiner(number),
            _Opt(P_ADJECTIVE, adjective),
            _content(topic, f"noun.{number}", "noun"),
        )
    )


def _pp(topic: str) -> _Seq:
    return _Seq((_Words(_PREPOSITIONS, "prep"), _both_numbers(lambda n: _simple_np(topic, n))))


def _verb(topic: str, kind: str, form: str, number: str) -> _Words:
    """A verb of ``kind`` ("vt"/"vi") in ``form``: "past", "base", or "present" (agreeing)."""
    if form != "present":
        return _content(topic, f"{kind}.{form}", "verb")
    own, other = ("third", "base") if number == "singular" else ("base", "third")
    return _content(topic, f"{kind}.{own}", "verb", flip_slot=f"{kind}.{other}")


def _relative_clause(topic: str, head_number: str) -> _Seq:
    """'that' + a verb agreeing with the head noun, in a tense of its own."""

    def clause(tense: str) -> _Alt:
        transitive = _Seq(
            (
                _verb(topic, "vt", tense, head_number),
                _both_numbers(lambda n: _simple_np(topic, n)),
            )
        )
        return _either(P_TRANSITIVE, transitive, _verb(topic, "vi", tense, head_number))

    return _Seq((_word("that", "rel"), _either(0.5, clause("past"), clause("present"))))


def _np(topic: str, number: str) -> _Seq:
    """DET ADJ? N (PP | RC)?: subject and object noun phrases."""
    modifier = _either(P_RELATIVE, _relative_clause(topic, number), _pp(topic))
    return _Seq((*_simple_np(topic, number).items, _Opt(P_NP_MODIFIER, modifier)))


def _predicate(topic: str, form: str, number: str) -> _Alt:
    transitive = _Seq((_verb(topic, "vt", form, number), _both_numbers(lambda n: _np(topic, n))))
    intransitive = _Seq((_verb(topic, "vi", form, number), _Opt(P_INTRANSITIVE_PP, _pp(topic))))
    return _either(P_TRANSITIVE, transitive, intransitive)


def _auxiliary(tense: str, number: str) -> _Words:
    if tense == "past":
        return _word("did", "aux")
    own, other = ("does", "do") if number == "singular" else ("do", "does")
    return _word(own, "aux", flip=(other,))


def _adverb(tense: str) -> _Alt:
    def phrase(text: str) -> _Node:
        words = text.split()
        if len(words) == 1:
            return _word(words[0], "adv", optional=True)
        # Each word of "last week" is obligatory once the phrase is there: "week ." is not a
        # sentence ending.
        return _Seq(tuple(_word(w, "adv") for w in words))

    phrases = _ADVERBS[tense]
    return _Alt(tuple((1.0, phrase(text)) for text in phrases))


class _Key(NamedTuple):
    topic: str
    tense: str
    number: str
    mood: str
    negation: bool


def _template(key: _Key) -> _Seq:
    """The whole sentence tree for one combination of factors."""
    topic, tense, number, mood, negation = key
    # After did/does/do the verb is bare; otherwise it carries tense (and, in the present, number).
    form = "base" if negation or mood == "question" else tense
    subject = _np(topic, number)
    tail = (_predicate(topic, form, number), _Opt(P_ADVERB, _adverb(tense)))
    if mood == "statement":
        negator = (_auxiliary(tense, number), _word("not", "neg")) if negation else ()
        return _Seq((subject, *negator, *tail, _word(".", "punct")))
    # Dropping "not" from a question leaves the affirmative question, so it is optional here
    # (unlike in "the dog did not chase ...", where "did" and "not" need each other).
    negator = (_word("not", "neg", optional=True),) if negation else ()
    return _Seq((_auxiliary(tense, number), subject, *negator, *tail, _word("?", "punct")))


@cache
def _templates() -> dict[_Key, _Seq]:
    keys = itertools.product(TOPICS, TENSES, NUMBERS, MOODS, (False, True))
    return {_Key(*k): _template(_Key(*k)) for k in keys}


def _terminals(node: _Node) -> Iterator[_Words]:
    if isinstance(node, _Words):
        yield node
    for child in node.children():
        yield from _terminals(child)


@cache
def vocabulary() -> frozenset[str]:
    """Every token the grammar can produce (content words, function words, punctuation)."""
    return frozenset(
        w for tree in _templates().values() for node in _terminals(tree) for w in node.forms
    )


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrammarSentence:
    """One generated sentence and its factors.

    Attributes:
        text: lowercase tokens separated by single spaces, ending in "." or "?".
        labels: ``topic`` (str), ``tense`` ("past"/"present"), ``number`` (of the subject:
            "singular"/"plural"), ``mood`` ("statement"/"question"), ``negation`` (bool),
            ``length`` (token count).
    """

    text: str
    labels: dict[str, Any]


class _Derivation(NamedTuple):
    """A sentence with, per token, the terminal node that produced it (the annotation used by
    :func:`corruption_report`: optional positions, agreement positions, content slots)."""

    key: _Key
    words: list[str]
    nodes: list[_Words]


def _sample_key(rng: random.Random) -> _Key:
    return _Key(
        topic=TOPICS[int(rng.random() * len(TOPICS))],
        tense=TENSES[rng.random() < 0.5],
        number=NUMBERS[rng.random() < 0.5],
        mood=MOODS[rng.random() < P_QUESTION],
        negation=rng.random() < P_NEGATION,
    )


def _derive(n: int, seed: int) -> Iterator[_Derivation]:
    rng = random.Random(seed)
    templates = _templates()
    for _ in range(n):
        key = _sample_key(rng)
        words: list[str] = []
        nodes: list[_Words] = []
        templates[key].sample(rng, words, nodes)
        yield _Derivation(key, words, nodes)


def _labels(key: _Key, length: int) -> dict[str, Any]:
    return {
        "topic": key.topic,
        "tense": key.tense,
        "number": key.number,
        "mood": key.mood,
        "negation": key.negation,
        "length": length,
    }


def generate(n: int, seed: int) -> list[GrammarSentence]:
    """Sample ``n`` sentences from the grammar, deterministically.

    Args:
        n: number of sentences (>= 0).
        seed: seed for a private ``random.Random``; the same seed gives the same list.

    Returns:
        The sentences with their labels.

    Raises:
        DataError: if ``n`` is negative.
    """
    if n < 0:
        raise DataError(f"the number of grammar sentences must be >= 0, got {n}")
    return [
        GrammarSentence(" ".join(d.words), _labels(d.key, len(d.words))) for d in _derive(n, seed)
    ]


def _split_sizes(n: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    if n < 0:
        raise DataError(f"the number of grammar sentences must be >= 0, got {n}")
    if not (
        0.0 <= valid_fraction and 0.0 <= test_fraction and valid_fraction + test_fraction < 1.0
    ):
        raise DataError(
            "valid and test fractions must be >= 0 and sum to less than 1, got "
            f"{valid_fraction} and {test_fraction}"
        )
    n_valid = round(n * valid_fraction)
    n_test = round(n * test_fraction)
    return {"train": n - n_valid - n_test, "valid": n_valid, "test": n_test}


def grammar_splits(
    n: int, seed: int, valid_fraction: float = 0.05, test_fraction: float = 0.05
) -> dict[str, list[GrammarSentence]]:
    """Generate ``n`` sentences and split them into train, valid and test, deterministically.

    Sentences are i.i.d., so the split is by position: the first ones are train, then valid,
    then test. Short sentences can therefore occur in more than one split, as they would in
    natural text.

    Args:
        n: total number of sentences.
        seed: generation seed.
        valid_fraction: share of ``n`` for "valid" (rounded).
        test_fraction: share of ``n`` for "test" (rounded).

    Returns:
        {"train": [...], "valid": [...], "test": [...]}, sizes summing to ``n``.

    Raises:
        DataError: if ``n`` is negative or the fractions are out of range.
    """
    sizes = _split_sizes(n, valid_fraction, test_fraction)
    sentences = generate(n, seed)
    a = sizes["train"]
    b = a + sizes["valid"]
    return {"train": sentences[:a], "valid": sentences[a:b], "test": sentences[b:]}


def _write_atomic(path: Path, lines: Iterator[str]) -> None:
    """Write lines to ``path`` via a temp file in the same directory, so a reader never sees a
    half-written file and an interrupted run leaves the previous file intact."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line)
                f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_corpus(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> dict[str, int]:
    """Write the grammar corpus as text and label files.

    Writes ``{split}.txt`` (one sentence per line) and ``{split}.labels.jsonl`` (one JSON object
    per line: "text" and the labels) for train, valid and test, UTF-8, each file atomically.

    Args:
        out_dir: directory to write into; created if missing.
        n: total number of sentences.
        seed: generation seed.
        valid_fraction: share of ``n`` for "valid".
        test_fraction: share of ``n`` for "test".

    Returns:
        Number of sentences per split.

    Raises:
        DataError: if ``n`` or the fractions are out of range.
    """
    splits = grammar_splits(n, seed, valid_fraction, test_fraction)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, sentences in splits.items():
        _write_atomic(out / f"{split}.txt", (s.text for s in sentences))
        _write_atomic(
            out / f"{split}.labels.jsonl",
            (json.dumps({"text": s.text, **s.labels}) for s in sentences),
        )
    return {split: len(sentences) for split, sentences in splits.items()}


# ---------------------------------------------------------------------------------------------
# Recognition
# ---------------------------------------------------------------------------------------------


@cache
def _recognizer() -> tuple[re.Pattern[str], dict[str, _Key]]:
    """One regex with a named group per template; the group that matches gives the labels."""
    keys = list(_templates())
    names = {f"t{i}": key for i, key in enumerate(keys)}
    body = "|".join(f"(?P<{name}>{_templates()[key].pattern()})" for name, key in names.items())
    return re.compile(body), names


def parse(sentence: str) -> dict[str, Any] | None:
    """Recover the labels of a sentence, or None if the grammar cannot produce it.

    Args:
        sentence: any string; only exact grammar sentences (single spaces, no surrounding
            whitespace) are accepted.

    Returns:
        The labels (as in :class:`GrammarSentence`), or None.
    """
    if not isinstance(sentence, str):
        return None
    regex, names = _recognizer()
    # Every terminal in the regex ends with a space, hence the extra one here.
    match = regex.fullmatch(sentence + " ")
    if match is None:
        return None
    return _labels(names[match.lastgroup], sentence.count(" ") + 1)  # type: ignore[index]


def is_grammatical(sentence: str) -> bool:
    """Whether the grammar can generate ``sentence`` (with nonzero probability).

    Never raises: anything that is not exactly a grammar sentence gives False.
    """
    return parse(sentence) is not None


# ---------------------------------------------------------------------------------------------
# Corruption report
# ---------------------------------------------------------------------------------------------

CORRUPTIONS = ("swap", "duplicate", "foreign_word", "drop", "drop_obligatory", "agreement_flip")


class _Edit(NamedTuple):
    words: list[str]
    description: str


def _corrupt(kind: str, d: _Derivation, rng: random.Random) -> _Edit | None:
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
        forms = _SLOTS[other][slot]  # type: ignore[index]
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
    for derivation in _derive(n, seed):
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
