"""The grammar's words and factors: the only place where words are listed.

Each topic has its own nouns, verbs and adjectives (:data:`LEXICON`); the function words
(determiners, prepositions, adverbs) are shared. The templates, the vocabulary and the tests'
corruptions all read these tables, through :data:`SLOTS` for content words. Each word form
belongs to exactly one slot (checked at import), so the labels of a sentence can be read back
from its text.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple


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
DETERMINERS = {"singular": ("this", "every"), "plural": ("these", "some")}
PREPOSITIONS = ("near", "behind", "beside", "with", "without", "under")
ADVERBS = {
    "past": ("yesterday", "earlier", "last night", "last week"),
    "present": ("today", "now", "often", "every day"),
}


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
    function_words.update(*DETERMINERS.values(), PREPOSITIONS)
    for phrases in ADVERBS.values():
        function_words.update(w for phrase in phrases for w in phrase.split())
    seen: dict[str, str] = {w: "function word" for w in function_words}
    for topic, slots in table.items():
        for slot, forms in slots.items():
            for word in forms:
                if word in seen:
                    raise ValueError(f"{word!r} is both {seen[word]} and {topic}/{slot}")
                seen[word] = f"{topic}/{slot}"
    return table


# Checked once, at import: a clash is a bug in the tables above, not in any input.
SLOTS = _slot_table()
