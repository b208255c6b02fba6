"""Using a semi-supervised run (textvae.image.use.classify) and its commands: classify, analogy,
evaluate, on a 3-class fake MNIST of 9x9 images."""

import json

import numpy as np
import pytest
import torch

from textvae.cli import main
from textvae.core.errors import InputError
from textvae.image.pixels.pictures import read_image_file
from textvae.image.training.semisup_train import load_semisup_model, train_semisup
from textvae.image.use.classify import (
    analogy_images,
    classify_files,
    classify_images,
)


def _quiet(*_):
    pass


@pytest.fixture
def m2_run(semisup_config, one_thread):
    return train_semisup(semisup_config("train.max_steps=3"), log=_quiet).run_dir


def _png(path, side=9, value=None):
    from PIL import Image

    array = np.full((side, side), value, np.uint8) if value is not None else (
        np.random.default_rng(0).integers(0, 256, (side, side), dtype=np.uint8))
    Image.fromarray(array).save(path)
    return path


def test_classify_from_python_gives_probabilities(m2_run, tmp_path):
    model, _, _, label_set = load_semisup_model(m2_run, "cpu")
    probs = classify_images(model, torch.rand(5, 1, 9, 9))
    assert probs.shape == (5, 3)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    rows = classify_files(model, label_set, [_png(tmp_path / "a.png"),
                                             _png(tmp_path / "big.png", side=17, value=200)])
    assert [sorted(r["probabilities"]) for r in rows] == [["0", "1", "2"]] * 2
    assert rows[0]["predicted"] in ("0", "1", "2")
    # A larger image is resized to the model's side.
    assert read_image_file(tmp_path / "big.png", 1, 9).shape == (1, 9, 9)


def test_bad_images_are_one_clear_error_each(tmp_path):
    with pytest.raises(InputError, match="image not found: .*missing.png"):
        read_image_file(tmp_path / "missing.png", 1, 9)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="notes.png is not an image that can be read"):
        read_image_file(tmp_path / "notes.png", 1, 9)
    with pytest.raises(InputError, match="is not a file"):
        read_image_file(tmp_path, 1, 9)


def test_analogy_rows_hold_the_image_then_every_class(m2_run):
    model, _, _, _ = load_semisup_model(m2_run, "cpu")
    images = torch.rand(4, 1, 9, 9)
    grid = analogy_images(model, images, torch.tensor([0, 1, 2, 0]))
    assert grid.shape == (4 * 4, 1, 9, 9)
    torch.testing.assert_close(grid[::4], images)  # the first column: the inputs
    # z comes from each row's own label: changing it changes the row.
    other = analogy_images(model, images, torch.tensor([1, 1, 2, 0]))
    assert not torch.equal(grid[1:4], other[1:4]) and torch.equal(grid[4:], other[4:])


def test_cli_classify_analogy_and_evaluate(m2_run, tmp_path, capsys):
    png = _png(tmp_path / "digit.png")
    assert main(["image", "classify", "-c", str(m2_run), str(png)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{png}\tdigit=") and line.count(":") == 3
    assert main(["image", "classify", "-c", str(m2_run), "--split", "test", "--max-images",
                 "5"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 5 and "true=" in captured.out
    assert captured.err.startswith("accuracy ")
    assert main(["image", "analogy", "-c", str(m2_run), "--out", str(tmp_path / "a.png"),
                 "--n", "3"]) == 0
    from PIL import Image

    width, height = Image.open(tmp_path / "a.png").size
    assert (width, height) == (4 * 11 + 2, 3 * 11 + 2)  # 4 tiles of 9 + a border of 2 each
    capsys.readouterr()
    assert main(["image", "evaluate", str(m2_run), "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 11 and result["split"] == "test" and result["step"] >= 1
    assert result["error"] == pytest.approx(1 - result["accuracy"], abs=1e-3)
    assert result["neg_elbo"] > 0 and result["labelled_examples"] == 6
    assert json.loads((tmp_path / "e.json").read_text()) == result


def test_cli_errors_are_one_line(m2_run, tmp_path, capsys):
    (tmp_path / "text.png").write_text("hello")
    for args, message in [
        ([str(tmp_path / "missing.png")], "image not found"),
        ([str(tmp_path / "text.png")], "is not an image that can be read"),
        ([], "give image files to classify, or --split"),
    ]:
        assert main(["image", "classify", "-c", str(m2_run), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("textvae: error: ") and message in err and err.count("\n") == 1
    assert main(["image", "sample", str(m2_run), "--out", str(tmp_path / "s.png")]) == 2
    assert "semi-supervised model" in capsys.readouterr().err


def test_the_train_command_trains_m2(semisup_config, tmp_path, capsys, one_thread):
    cfg = semisup_config()
    args = ["image", "train", "--no-progress", "--set", "model.model_type=classifier",
            "--set", f"data.path={cfg.data.path}", "--set", "data.valid_size=7",
            "--set", "labels.labels_per_class=3", "--set", "model.image_size=9",
            "--set", "model.classifier_dims=[13]", "--set", "train.max_steps=2",
            "--set", f"train.out_dir={tmp_path / 'cli'}"]
    assert main(args) == 0
    assert json.loads((tmp_path / "cli" / "labelled_indices.json").read_text())[
        "labels_per_class"] == 3
