"""textvae.text.evaluate.text_metrics: BLEU, distinct-n and self-BLEU."""

import random

import pytest

from textvae.text.evaluate.text_metrics import (
    distinct_n,
    endpoint_exact_match,
    homotopy_change_share,
    reconstruction_bleu,
    self_bleu,
)


def test_distinct_n_counts_unique_ngrams():
    sents = [["a", "b", "a"], ["a", "b"]]
    assert distinct_n(sents, 1) == pytest.approx(2 / 5)
    assert distinct_n(sents, 2) == pytest.approx(2 / 3)  # (a b), (b a), (a b)
    assert distinct_n([["a"]], 2) == 0.0


def test_endpoint_exact_match_counts_ends_that_decode_to_their_sentences():
    # Path 1: both ends land (2 of 2); path 2: only its last (1 of 2); path 3: neither.
    paths = [["a .", "x", "b ."], ["c", "y", "d ."], ["q", "z", "z", "r"]]
    ends = [("a .", "b ."), ("c .", "d ."), ("e .", "f .")]
    assert endpoint_exact_match(paths, ends) == pytest.approx(3 / 6)
    assert endpoint_exact_match([["s", "s"]], [("s", "s")]) == 1.0
    with pytest.raises(ValueError, match="2 paths but 1 pairs"):
        endpoint_exact_match(paths[:2], ends[:1])
    with pytest.raises(ValueError, match="at least 2 points"):
        endpoint_exact_match([["a"]], [("a", "a")])


def test_homotopy_change_share_counts_interior_points_unlike_both_neighbours():
    # Interior points of path 1: b (a | c: counts), c (b | c: not), c (c | d: not);
    # of path 2: y (x | y: not), y (y | z: not). 1 of 5.
    paths = [["a", "b", "c", "c", "d"], ["x", "y", "y", "z"]]
    assert homotopy_change_share(paths) == pytest.approx(1 / 5)
    assert homotopy_change_share([["s"] * 10]) == 0.0  # an ignored latent: one sentence
    assert homotopy_change_share([list("abcdefg")]) == 1.0
    with pytest.raises(ValueError, match="at least 3 points"):
        homotopy_change_share([["a", "b"]])


def test_bleu_extremes():
    texts = ["the cat sat on the mat .", "a dog ran in the park today ."]
    assert reconstruction_bleu(texts, texts) == pytest.approx(100.0)
    assert reconstruction_bleu(["x y z w v"] * 2, texts) == pytest.approx(0.0)
    assert self_bleu(["the same five word sentence"] * 9) == pytest.approx(100.0)
    varied = ["alpha beta gamma delta", "one two three four", "red green blue black"]
    assert self_bleu(varied) < 5.0
    with pytest.raises(ValueError):
        reconstruction_bleu(texts, texts[:1])


def test_self_bleu_subsample_is_seeded_and_bounded():
    pool = [f"w{i % 5} w{i % 3} w{i % 7} end" for i in range(31)]
    a = self_bleu(pool, max_hypotheses=11, seed=3)
    assert a == self_bleu(pool, max_hypotheses=11, seed=3)
    assert 0.0 < a < 100.0


def test_self_bleu_equals_sacrebleu_sentence_scores_against_all_others():
    import sacrebleu

    rng = random.Random(5)
    words = ["a", "b", "c", "d", "e", "the", "of"]
    # Repeated sentences (an n-gram whose largest count is the hypothesis' own), lengths 1 to 9
    # with ties in closeness, and an empty-ish single word.
    pool = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(37)]
    pool += [pool[3], pool[3], "the the the the of", "b"]
    metric = sacrebleu.metrics.BLEU(tokenize="none", effective_order=True)
    picked = sorted(random.Random(2).sample(range(len(pool)), 23))
    oracle = [metric.sentence_score(pool[i], [s for j, s in enumerate(pool) if j != i]).score
              for i in picked]
    assert self_bleu(pool, max_hypotheses=23, seed=2) == pytest.approx(sum(oracle) / 23, abs=1e-9)
