"""textvae.text.evaluate.fluency: forward perplexity under a reference LM, and its checks."""

import math
import random
from dataclasses import replace

import pytest
import torch
from tiny import train_tiny

from textvae.core.errors import InputError
from textvae.text.api import TextVAE, load
from textvae.text.data.batching import collate
from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.evaluate.fluency import (
    check_reference_lm,
    forward_perplexity,
    lm_perplexity,
)
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.corpus import load_sentences

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm(tmp_path_factory, one_thread):
    """A tiny LM trained long enough to know the grammar's word order (~8 s)."""
    run = train_tiny(tmp_path_factory.mktemp("fluency") / "lm", "model.model_type=lm",
                     "train.max_steps=250", "train.lr=0.01", "train.eval_every=1000")
    return load(run, device="cpu")


def test_the_lms_own_training_sentences_read_far_better_than_their_words_shuffled(lm):
    sentences = load_sentences(lm.config.data, "train").sentences
    rng = random.Random(5)
    shuffled = [" ".join(rng.sample(s.split(), len(s.split()))) for s in sentences]
    real, scrambled = forward_perplexity(lm, sentences), forward_perplexity(lm, shuffled)
    assert real["sentences"] == scrambled["sentences"] == len(sentences)
    assert real["target_tokens_incl_eos"] == scrambled["target_tokens_incl_eos"]  # same words
    assert scrambled["ppl_per_token_incl_eos"] > 5 * real["ppl_per_token_incl_eos"]


def test_lm_perplexity_is_the_exact_teacher_forced_nll(lm):
    texts = ["the fans ran .", "", "zzz unknown words"]  # an empty text scores its eos alone
    ids = [lm.tokenizer.encode(t) for t in texts]
    assert ids[1] == [] and ids[2] == [lm.tokenizer.unk_id] * 3
    tok = lm.tokenizer
    nll = 0.0
    with torch.no_grad():  # by hand: one sentence at a time, log-softmax over the whole output
        for row in ids:
            batch = collate([row], bos_id=tok.bos_id, eos_id=tok.eos_id, pad_id=tok.pad_id)
            out = lm.model(batch.ids, batch.lengths)
            nll -= out.logits.log_softmax(-1).gather(1, out.targets[:, None]).sum().item()
    got = forward_perplexity(lm, texts)
    assert got == lm_perplexity(lm, ids)
    assert got["target_tokens_incl_eos"] == 5 + 1 + 4  # words + one eos each
    assert got["nll_nats_per_sentence"] == pytest.approx(nll / 3, abs=1e-4)
    assert got["ppl_per_token_incl_eos"] == pytest.approx(math.exp(nll / 10), rel=1e-5)


def test_a_vae_or_another_vocabulary_is_refused_in_one_line(lm):
    check_reference_lm(lm, lm)  # the same vocabulary: accepted
    torch.manual_seed(0)
    vae_config = replace(lm.config, model=replace(lm.config.model, model_type="vae"))
    vae = TextVAE(build_model(vae_config.model, lm.tokenizer.vocab_size, lm.tokenizer.pad_id),
                  lm.tokenizer, vae_config)
    with pytest.raises(InputError) as refused:
        check_reference_lm(vae, lm, name="--reference-lm runs/x")
    message = str(refused.value)
    assert message.startswith("--reference-lm runs/x is not a language model "
                              "(model.model_type: vae)") and "\n" not in message
    other = WordTokenizer.build(["a b c d e", "f g h i j k l m"])  # 17 ids
    other_lm = TextVAE(build_model(lm.config.model, other.vocab_size, other.pad_id), other,
                       lm.config)
    with pytest.raises(InputError) as refused:
        check_reference_lm(other_lm, lm)
    message = str(refused.value)
    assert f"another vocabulary than the evaluated model (17 ids against " \
           f"{lm.tokenizer.vocab_size})" in message and "data.tokenizer.from_run" in message
    assert "\n" not in message
