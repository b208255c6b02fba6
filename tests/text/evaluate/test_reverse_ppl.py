"""textvae.text.evaluate.reverse_ppl: an LM trained on samples, scored on real sentences."""

import math

import pytest
import torch

from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.evaluate.reverse_ppl import fit_lm, reverse_perplexity

pytestmark = pytest.mark.usefixtures("one_thread")

# Two "real" sentences that share nothing but their length, and a language of other words.
REAL = ["the cat sat on the mat .", "a dog ran in some park ."]
OTHER = ["green ideas sleep furiously now", "colorless birds fly up high", "seven moons rise ."]
TOKENIZER = WordTokenizer.build(REAL + OTHER)  # 4 specials + 25 words = 29 ids


def ids(texts):
    return [TOKENIZER.encode(t) for t in texts]


def test_an_lm_of_the_real_sentences_reaches_their_entropy():
    # Each real sentence is fixed once its first word is chosen: the best LM pays log 2 nats over
    # the 16 target tokens (7 words + eos, twice), so its PPL is 2 ** (1 / 16).
    floor = 2 ** (1 / 16)
    result = reverse_perplexity(ids(REAL), ids(REAL), TOKENIZER, steps=100, batch_size=5, seed=3)
    assert floor - 1e-9 <= result["ppl_per_token_incl_eos"] < floor * 1.1
    assert result["nll_nats_per_sentence"] == pytest.approx(
        16 * math.log(result["ppl_per_token_incl_eos"]) / 2)
    assert (result["train_sentences"], result["steps"], result["batch_size"]) == (2, 100, 5)
    # Samples of another language teach nothing about the real one: far worse than uniform.
    other = reverse_perplexity(ids(OTHER), ids(REAL), TOKENIZER, steps=100, batch_size=5, seed=3)
    assert other["ppl_per_token_incl_eos"] > TOKENIZER.vocab_size
    assert other["ppl_per_token_incl_eos"] > 100 * result["ppl_per_token_incl_eos"]


def test_an_untrained_lm_is_near_uniform_and_the_seed_decides_everything():
    before = torch.random.get_rng_state()
    untrained = reverse_perplexity(ids(OTHER), ids(REAL), TOKENIZER, steps=0, seed=7)
    assert 0.8 * TOKENIZER.vocab_size < untrained["ppl_per_token_incl_eos"] < 1.25 * TOKENIZER.vocab_size
    first = reverse_perplexity(ids(OTHER), ids(REAL), TOKENIZER, steps=3, batch_size=5, seed=7)
    again = reverse_perplexity(ids(OTHER), ids(REAL), TOKENIZER, steps=3, batch_size=5, seed=7)
    other_seed = reverse_perplexity(ids(OTHER), ids(REAL), TOKENIZER, steps=3, batch_size=5, seed=8)
    assert first == again and first != other_seed
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is left alone


def test_fit_lm_gives_an_lm_in_eval_mode_and_refuses_nothing_to_learn():
    lm = fit_lm(ids(REAL), TOKENIZER, steps=1, batch_size=3)
    assert not lm.is_vae and not lm.training and lm.vocab_size == 29
    with pytest.raises(ValueError, match="at least one"):
        fit_lm([], TOKENIZER, steps=1)
