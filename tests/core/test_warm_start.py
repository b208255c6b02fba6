"""The warm start copies every tensor two models share by name, and nothing when shapes disagree."""

import pytest
import torch
from torch import nn

from textvae.core.errors import CheckpointError
from textvae.core.warm_start import load_matching_weights


class Decoder(nn.Module):
    """An embedding tied to its output layer, and a hidden layer: a stand-in for an LM."""

    def __init__(self, vocab: int = 13, width: int = 5) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.hidden = nn.Linear(width, width)
        self.output = nn.Linear(width, vocab)
        self.output.weight = self.embedding.weight


class WithEncoder(Decoder):
    """The same decoder names, plus an encoder the source does not have: a stand-in for a VAE."""

    def __init__(self, vocab: int = 13, width: int = 5) -> None:
        super().__init__(vocab, width)
        self.encoder = nn.Linear(width, 3)


def test_copies_the_shared_tensors_and_leaves_the_rest():
    torch.manual_seed(0)
    source, model = Decoder(), WithEncoder()
    encoder_before = model.encoder.weight.detach().clone()
    report = load_matching_weights(model, source.state_dict(), source="lm")
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert torch.equal(model.encoder.weight, encoder_before)
    assert model.output.weight is model.embedding.weight  # still tied
    assert set(report.left_fresh) == {"encoder.weight", "encoder.bias"}
    assert report.ignored == ()
    # 13 x 5 tied weights counted once, + 5 x 5 + 5 + 13 copied; the encoder's 5 x 3 + 3 are not.
    assert report.copied_elements == 65 + 30 + 13
    assert report.total_elements == 65 + 30 + 13 + 18
    assert "of 126 values" in report.summary("lm")


def test_the_other_way_round_ignores_what_the_smaller_model_lacks():
    source, model = WithEncoder(), Decoder()
    report = load_matching_weights(model, source.state_dict(), source="vae")
    assert set(report.ignored) == {"encoder.weight", "encoder.bias"}
    assert torch.equal(model.hidden.weight, source.hidden.weight)
    assert "2 of the source's are not in this model" in report.summary("vae")


def test_a_shape_mismatch_is_refused_and_changes_nothing():
    source, model = Decoder(vocab=13), WithEncoder(vocab=11)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"embedding.weight \(13, 5\) vs \(11, 5\)"):
        load_matching_weights(model, source.state_dict(), source="lm")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_no_shared_name_is_refused():
    with pytest.raises(CheckpointError, match="shares no tensor name"):
        load_matching_weights(nn.GRU(3, 7), Decoder().state_dict(), source="lm")
