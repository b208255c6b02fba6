"""A state dict on disk (textvae.core.weights): safetensors with tied-weight aliases."""

import os

import pytest
import torch
from safetensors import safe_open

from textvae.core.errors import CheckpointError, FileWriteError
from textvae.core.weights import ALIASES_KEY, read_tensor_file, save_tensor_file
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.config import load_config


def test_tied_weights_are_stored_once_and_come_back_under_both_names(tmp_path):
    config = load_config(None, ["model.tie_embeddings=true", "model.embed_dim=11",
                                "model.encoder_hidden_dim=13", "model.decoder_hidden_dim=11",
                                "model.latent_dim=7"])
    model = build_model(config.model, 37, 0)
    state = model.state_dict()
    assert state["output.weight"].data_ptr() == state["embedding.weight"].data_ptr()  # tied
    file = save_tensor_file(state, tmp_path / "model.safetensors")
    with safe_open(file, framework="pt") as fh:
        assert "output.weight" not in fh.keys()  # stored once
        assert ALIASES_KEY in fh.metadata() and fh.metadata()["format"] == "pt"
    back = read_tensor_file(file)
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    fresh = build_model(config.model, 37, 0)
    fresh.load_state_dict(back)  # strict: every name is there
    assert fresh.output.weight is fresh.embedding.weight  # still tied after loading


def test_views_and_non_contiguous_tensors_are_written_as_their_own_bytes(tmp_path):
    base = torch.arange(35.0).reshape(5, 7)
    tensors = {"base": base, "transposed": base.T, "row": base[2], "every_other": base[:, ::2]}
    back = read_tensor_file(save_tensor_file(tensors, tmp_path / "t.safetensors"))
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    assert back["transposed"].shape == (7, 5) and back["every_other"].shape == (5, 4)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left


def test_errors_name_the_file(tmp_path):
    with pytest.raises(TypeError, match="step is a int"):
        save_tensor_file({"step": 3}, tmp_path / "x.safetensors")
    with pytest.raises(FileWriteError, match="cannot write"):
        save_tensor_file({"w": torch.ones(3)}, tmp_path / "no" / "such" / "x.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x02not safetensors")
    with pytest.raises(CheckpointError, match="bad.safetensors .*truncated, corrupt, or not a safetensors"):
        read_tensor_file(tmp_path / "bad.safetensors")
