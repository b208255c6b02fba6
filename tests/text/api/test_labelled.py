"""A loaded labelled model from Python: classify, sample with a label, transfer."""

import pytest
import torch
from tiny import TINY_RUN, labelled_run

from textvae.core.errors import InputError
from textvae.text.api import LabelledTextVAE, load
from textvae.text.run.config import load_config
from textvae.text.training.train_labelled import train_labelled


@pytest.fixture(scope="module")
def cvae(tmp_path_factory):
    out = tmp_path_factory.mktemp("cvae") / "run"
    cfg = load_config(None, [*TINY_RUN, "labels.factors=[tense, mood]", "labels.embed_dim=3",
                             "train.max_steps=4", "train.threads=1", f"train.out_dir={out}"])
    train_labelled(cfg, progress=False, log=lambda message: None)
    return load(out, device="cpu")


@pytest.fixture(scope="module")
def m2(tmp_path_factory):
    cfg = labelled_run(tmp_path_factory.mktemp("m2"), "labels.labels_per_class=2", "train.max_steps=4")
    return load(train_labelled(cfg, progress=False, log=lambda message: None).run_dir, device="cpu")


def _known(tv, n=3):
    words = [w for w in tv.tokenizer.tokens[4:] if w.isalpha()]
    return [" ".join(words[i:i + 3]) for i in range(n)]


def test_load_gives_a_labelled_model_with_its_label_set(cvae, m2):
    assert isinstance(cvae, LabelledTextVAE)
    assert cvae.label_set.to_dict() == {"tense": ["past", "present"], "mood": ["question", "statement"]}
    assert m2.label_set.names == ("colour",)


def test_a_conditional_vae_classifies_every_factor_by_its_bound(cvae):
    rows = cvae.classify(_known(cvae))
    for row in rows:
        assert set(row) == {"tense", "mood"}
        for probs in row.values():
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_m2_classifies_its_factor(m2):
    rows = m2.classify(_known(m2, 2))
    assert [set(r) for r in rows] == [{"colour"}, {"colour"}]


def test_sampling_with_a_label_is_seeded_and_streams_the_same(cvae):
    a = cvae.sample(5, label={"tense": "past"}, seed=3)
    assert a == cvae.sample(5, label=["tense=past"], seed=3)
    assert list(cvae.iter_sample(5, label={"tense": "past"}, seed=3)) == a
    assert cvae.sample(5, seed=3) == cvae.sample(5, seed=3)  # unrequested factors drawn, seeded


def test_the_decoder_reads_the_label(cvae):
    z = torch.zeros(2, cvae.latent_dim)
    past = cvae.labelled.decoder_latent(z, torch.tensor([[0, 0], [0, 0]]))
    present = cvae.labelled.decoder_latent(z, torch.tensor([[1, 0], [1, 0]]))
    assert not torch.equal(cvae.model.initial_state(past, 2)[0], cvae.model.initial_state(present, 2)[0])


def test_bad_labels_are_one_clear_error(cvae):
    with pytest.raises(InputError, match="known values of tense: past, present"):
        cvae.sample(2, label={"tense": "future"})
    with pytest.raises(InputError, match="names no factor"):
        cvae.sample(2, label="past")
    with pytest.raises(InputError, match="a label to change to"):
        cvae.transfer(_known(cvae, 1), None)


def test_transfer_with_given_source_labels_matches_transfer_labels(cvae):
    sentences = _known(cvae, 2)
    out = cvae.transfer(sentences, "tense=present", source_label=["tense=past", "mood=statement"])
    source = torch.tensor([[0, 1], [0, 1]])
    target = torch.tensor([[1, 1], [1, 1]])
    assert out == cvae.transfer_labels(cvae.token_ids(sentences), source, target)


def test_a_shared_folder_keeps_the_labels_and_the_label_weights(cvae, tmp_path):
    from textvae.text.api import from_pretrained

    folder = cvae.save_pretrained(tmp_path / "shared")
    again = from_pretrained(folder, device="cpu")
    assert isinstance(again, LabelledTextVAE) and again.label_set == cvae.label_set
    assert again.sample(4, label="tense=past", seed=2) == cvae.sample(4, label="tense=past", seed=2)
    with pytest.raises(InputError, match="aggregate prior is not available"):
        again.sample(2, prior="aggregate")


def test_encoding_no_sentences_gives_empty_codes(cvae):
    mu, logvar = cvae.encode_ids([])
    assert mu.shape == logvar.shape == (0, cvae.latent_dim)
