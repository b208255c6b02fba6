"""textvae.text.training.validate: the text validation pass."""

import pytest
import torch

from textvae.core.metrics import mutual_information
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.corpus import build_corpus
from textvae.text.training.validate import evaluate_elbo

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mutual_information_comes_from_the_pass_itself(tiny_config):
    cfg = tiny_config()
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=lambda m: None)
    tok = corpus.tokenizer
    torch.manual_seed(5)
    model = build_model(cfg.model, tok.vocab_size, tok.pad_id)
    ids = corpus.ids["valid"][:23]
    common = {"batch_size": 9, "device": torch.device("cpu"), "seed": 13}
    plain = evaluate_elbo(model, ids, tok, **common)
    with_mi = evaluate_elbo(model, ids, tok, with_mutual_information=True, **common)
    assert "mutual_information" not in plain
    assert {k: with_mi[k] for k in plain} == plain  # asking for MI changes no other figure
    # The same estimate from the posteriors and the z of that pass (same seed, same order).
    generator = torch.Generator().manual_seed(13)
    model.eval()
    from textvae.text.data.batching import BucketBatchSampler, collate

    mus, logvars, zs = [], [], []
    for indices in BucketBatchSampler([len(x) + 1 for x in ids], 9, shuffle=False).batches(0):
        batch = collate([ids[i] for i in indices], bos_id=tok.bos_id, eos_id=tok.eos_id,
                        pad_id=tok.pad_id)
        with torch.no_grad():
            out = model(batch.ids, batch.lengths, generator=generator)
        mus.append(out.mu)
        logvars.append(out.logvar)
        zs.append(out.z)
    expected = mutual_information(torch.cat(mus), torch.cat(logvars), torch.cat(zs))
    assert with_mi["mutual_information"] == pytest.approx(expected, rel=1e-12)
