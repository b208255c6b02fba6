import json

import pytest

from textvae.cli import main


def _train(image_config, tmp_path):
    cfg = image_config()
    args = ["image", "train", "--set", f"data.path={cfg.data.path}", "--set", "data.valid_size=5",
            "--set", "model.image_size=12", "--set", "model.hidden_dims=[13]",
            "--set", "model.latent_dim=2", "--set", "train.max_steps=3",
            "--set", "train.batch_size=5", "--set", "train.log_every=1",
            "--set", f"train.out_dir={tmp_path / 'cli'}"]
    assert main(args) == 0
    return tmp_path / "cli"


def test_train_then_evaluate_prints_iw_nll(image_config, tmp_path, capsys, one_thread):
    run = _train(image_config, tmp_path)
    capsys.readouterr()
    assert main(["image", "evaluate", str(run), "--iw-k", "11", "--iw-chunk", "4",
                 "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["iw_k"] == 11 and result["images"] == 9 and result["step"] == 3
    assert result["iw_nll_nats_per_image"] > 0 and result["mse_per_image"] > 0
    assert json.loads((tmp_path / "e.json").read_text()) == result
    # Written whole by textvae.core.files: no temporary file is left beside it.
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["image", "evaluate", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: checkpoint not found") and err.count("\n") == 1
    assert main(["image", "train", "--set", "model.beta=-1"]) == 2
    assert "model.beta must be >= 0" in capsys.readouterr().err


def test_pictures_commands(image_config, tmp_path, capsys, one_thread):
    pytest.importorskip("textvae.image.pixels.pictures")
    run = _train(image_config, tmp_path)
    for kind in ("samples", "reconstructions", "manifold", "traversals", "curves"):
        out = tmp_path / f"{kind}.png"
        assert main(["image", "plot", kind, str(run), "--out", str(out), "--n", "5",
                     "--grid", "3"]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["image", "sample", str(run), "--out", str(tmp_path / "s.png"), "--n", "7"]) == 0
    assert (tmp_path / "s.png").is_file()


def test_evaluate_passes_the_slice_to_the_report(image_config, tmp_path, capsys, one_thread):
    run = _train(image_config, tmp_path)
    capsys.readouterr()
    assert main(["image", "evaluate", str(run), "--iw-k", "3", "--offset", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 2  # test images 7 and 8 of 9


def test_curves_with_an_unknown_key_is_a_one_line_error(image_config, tmp_path, capsys,
                                                         one_thread):
    run = _train(image_config, tmp_path)
    assert main(["image", "plot", "curves", str(run), "--out", str(tmp_path / "c.png"),
                 "--keys", "nope"]) == 2
    assert "numeric keys present" in capsys.readouterr().err
