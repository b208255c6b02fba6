"""textvae.text.viz.run: every picture of a trained text run, and where its metrics live."""

import pytest

from textvae.text.viz.latents import grammar_labels, validation_subset
from textvae.text.viz.run import FILES, plot_run, run_directory

from .helpers import SENTENCES, png_size

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_vae_run_gets_every_picture(vae_run, tmp_path):
    result = plot_run(vae_run, tmp_path / "plots", sentences=SENTENCES, seed=3, device="cpu")
    assert list(result.paths) == list(FILES)
    for name, path in result.paths.items():
        assert path == tmp_path / "plots" / FILES[name]
        png_size(path)
    assert result.notes == []
    # The PCA is of the seeded subset, coloured by the grammar factors of those sentences.
    assert result.posteriors.sentences == validation_subset(result.tv.config, SENTENCES, 3)
    assert result.posteriors.mu.shape == result.posteriors.logvar.shape == (SENTENCES, 7)
    assert result.labels == grammar_labels(result.posteriors.sentences)
    assert None not in result.labels["topic"]


def test_an_lm_run_gets_curves_only_with_a_note(lm_run, tmp_path):
    result = plot_run(lm_run, tmp_path, sentences=SENTENCES, device="cpu")
    assert list(result.paths) == ["curves"]
    png_size(result.paths["curves"])
    assert result.posteriors is None
    assert any("LM baseline" in note and "curves only" in note for note in result.notes)


def test_the_run_directory_of_a_checkpoint(vae_run, tmp_path):
    assert run_directory(vae_run) == vae_run
    assert run_directory(vae_run / "last") == vae_run
    step = (vae_run / "last").resolve()
    assert step.parent.name == "checkpoints"
    assert run_directory(step).resolve() == vae_run.resolve()
    assert run_directory(tmp_path) is None


def test_a_checkpoint_without_its_run_still_gets_latent_pictures(vae_run, tmp_path):
    import shutil

    alone = tmp_path / "alone"
    shutil.copytree((vae_run / "last").resolve(), alone)
    result = plot_run(alone, tmp_path / "plots", sentences=SENTENCES, device="cpu")
    assert list(result.paths) == ["latent_pca", "kl_per_dim"]
    assert any("no metrics.jsonl" in note for note in result.notes)
