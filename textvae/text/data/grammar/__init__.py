"""The built-in grammar corpus: English-like sentences whose factors are known exactly.

textvae's default dataset needs no download, and every sentence comes with its generating
factors (topic, tense, subject number, mood, negation, length). Because the language is
defined by a grammar, text decoded from a VAE can be checked exactly with
:func:`is_grammatical`, and its labels read back with :func:`parse`.

The package, from the bottom up (each module imports only the ones above it):

- :mod:`.lexicon`: the words of each topic and the factor values;
- :mod:`.templates`: the grammar, as one template tree per combination of factors;
- :mod:`.generator`: sampling sentences, splitting them, writing the corpus files;
- :mod:`.recognizer`: parsing a sentence back to its labels.
"""

from textvae.text.data.grammar.generator import (
    GrammarSentence,
    generate,
    grammar_splits,
    write_corpus,
)
from textvae.text.data.grammar.lexicon import (
    LEXICON,
    MOODS,
    NUMBERS,
    TENSES,
    TOPICS,
    TopicLexicon,
    Verb,
)
from textvae.text.data.grammar.recognizer import is_grammatical, parse
from textvae.text.data.grammar.templates import vocabulary

__all__ = [
    "LEXICON",
    "MOODS",
    "NUMBERS",
    "TENSES",
    "TOPICS",
    "GrammarSentence",
    "TopicLexicon",
    "Verb",
    "generate",
    "grammar_splits",
    "is_grammatical",
    "parse",
    "vocabulary",
    "write_corpus",
]
