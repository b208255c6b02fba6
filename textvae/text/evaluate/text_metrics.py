"""Text metrics of generated sentences, as pure functions of strings: corpus BLEU of
reconstructions (via sacrebleu), distinct-n (Li et al. 2016), self-BLEU (Zhu et al. 2018), how
often the decodes along a homotopy change and whether its ends decode to their sentences.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from textvae.core.errors import TextVAEError
from textvae.core.progress import tracked


def distinct_n(sentences: Sequence[Sequence[str]], n: int) -> float:
    """Li et al. 2016: unique n-grams / total n-grams over all token lists (0 if there are none)."""
    grams = [tuple(toks[i : i + n]) for toks in sentences for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def homotopy_change_share(paths: Sequence[Sequence[str]]) -> float:
    """The share of a homotopy's interior points whose decode differs from both neighbours'.

    Each path is the decodes of evenly spaced points from one sentence's code to another's,
    endpoints included; each interior point (all but the first and last) counts once. A latent
    the decoder ignores gives paths of one repeated sentence (share 0); a decoder that follows
    z changes its sentence at nearly every step (share near 1).
    """
    counts = [(path[i] != path[i - 1] and path[i] != path[i + 1])
              for path in paths for i in range(1, len(path) - 1)]
    if not counts:
        raise ValueError("homotopy paths need at least 3 points each")
    return sum(counts) / len(counts)


def endpoint_exact_match(
    paths: Sequence[Sequence[str]], ends: Sequence[tuple[str, str]]
) -> float:
    """The share of a homotopy's two ends that decode to the sentences they were encoded from.

    Each path is the decodes of evenly spaced points from one sentence's posterior mean to
    another's, endpoints included; ``ends`` holds each path's two input sentences. The interior
    of a path can only be read when its ends land on the sentences: a share well below 1 means
    the path runs between other sentences than the ones chosen (the reconstruction's exact
    match, measured on the homotopy's own pairs).
    """
    if len(paths) != len(ends):
        raise ValueError(f"{len(paths)} paths but {len(ends)} pairs of ends")
    if not paths or any(len(path) < 2 for path in paths):
        raise ValueError("homotopy paths need at least 2 points each")
    hits = [path[0] == a for path, (a, _) in zip(paths, ends, strict=True)]
    hits += [path[-1] == b for path, (_, b) in zip(paths, ends, strict=True)]
    return sum(hits) / len(hits)


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise TextVAEError("BLEU needs sacrebleu: pip install sacrebleu") from None
    return sacrebleu


def reconstruction_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of decodes against their inputs, one reference each.

    sacrebleu runs with ``tokenize="none"``: the texts are already tokenized (split on spaces,
    as the model saw them), so re-tokenizing would change what counts as a word.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu = _sacrebleu().corpus_bleu(
        list(hypotheses), [list(references)], tokenize="none", force=True
    )
    return float(bleu.score)


BLEU_MAX_ORDER = 4


def _ngram_counts(sentence: str) -> tuple[Counter, int]:
    """n-gram counts, n = 1..4, and the length of a whitespace-tokenized sentence (what sacrebleu
    extracts with ``tokenize="none"``)."""
    tokens = sentence.split()
    grams = Counter(tuple(tokens[i : i + n]) for n in range(1, BLEU_MAX_ORDER + 1)
                    for i in range(len(tokens) - n + 1))
    return grams, len(tokens)


def self_bleu(
    sentences: Sequence[str], *, max_hypotheses: int = 500, seed: int = 0, progress: bool = False
) -> float:
    """Zhu et al. 2018 (Texygen): the mean sentence BLEU-4 (0-100) of each sentence against all
    the others as references; high means the samples repeat each other.

    At most ``max_hypotheses`` sentences, a seeded random subset, serve as hypotheses; each is
    scored against every other sentence of the full list. The score is sacrebleu's sentence BLEU
    (``tokenize="none"``, exponential smoothing, effective order), but computed from shared
    statistics: a reference set's clipping count for an n-gram is its largest count in any one
    reference, so keeping each n-gram's two largest counts (and whose the largest is) gives the
    count over "all sentences but i" for every i at once, and a table of lengths gives the
    closest reference length. That makes it linear in the number of sentences instead of
    quadratic (sacrebleu.sentence_score with 999 references per call is minutes for 500
    hypotheses); tests check it equals sacrebleu's own computation.
    """
    if len(sentences) < 2:
        return 0.0
    bleu = _sacrebleu().metrics.BLEU
    stats = [_ngram_counts(s) for s in sentences]
    top: dict[tuple[str, ...], list[int]] = {}  # n-gram -> [largest, its owner, second largest]
    for owner, (grams, _) in enumerate(stats):
        for gram, count in grams.items():
            best = top.get(gram)
            if best is None:
                top[gram] = [count, owner, 0]
            elif count > best[0]:
                top[gram] = [count, owner, best[0]]
            elif count > best[2]:
                best[2] = count
    lengths = Counter(length for _, length in stats)
    count = min(max_hypotheses, len(sentences))
    picked = sorted(random.Random(seed).sample(range(len(sentences)), count))
    scores = []
    for i in tracked(picked, desc="self-BLEU", unit="sent", enabled=progress, leave=False):
        grams, hyp_len = stats[i]
        correct, total = [0] * BLEU_MAX_ORDER, [0] * BLEU_MAX_ORDER
        for gram, hyp_count in grams.items():
            largest, owner, second = top[gram]
            total[len(gram) - 1] += hyp_count
            correct[len(gram) - 1] += min(hyp_count, second if owner == i else largest)
        # The closest reference length among the others (ties: the shorter), as sacrebleu picks.
        ref_len = min((length for length, n in lengths.items()
                       if n > (1 if length == hyp_len else 0)),
                      key=lambda length: (abs(length - hyp_len), length))
        scores.append(bleu.compute_bleu(correct, total, hyp_len, ref_len, smooth_method="exp",
                                        effective_order=True).score)
    return sum(scores) / len(scores)

