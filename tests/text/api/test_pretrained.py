"""Models people can share: TextVAE.save_pretrained, textvae.from_pretrained (a folder, or a Hub
repo from the local cache) and TextVAE.push_to_hub, and the model card."""

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import textvae
from textvae.cli import main
from textvae.core.errors import CheckpointError, DataError, InputError
from textvae.text.api import AGGREGATE_PRIOR_FILE, TextVAE, from_pretrained, load
from textvae.text.run.config import DataConfig, load_config
from textvae.text.run.corpus import load_sentences
from textvae.text.training.train import train

COMMAND = "textvae train --config tiny.yaml --set 'train.out_dir=runs/my run'"
SIZES = ["model.embed_dim=11", "model.encoder_hidden_dim=13", "model.decoder_hidden_dim=17",
         "model.latent_dim=7", "train.batch_size=5"]
A, B = "the dog barked .", "the cats ran ."

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, one_thread):
    """A tiny VAE trained on text files (so its training data can go missing), and the files'
    directory."""
    root = tmp_path_factory.mktemp("text")
    data = root / "data"
    data.mkdir()
    grammar = DataConfig(source="grammar", grammar_size=300)
    for split in ("train", "valid"):
        (data / f"{split}.txt").write_text("\n".join(load_sentences(grammar, split).sentences) + "\n")
    cfg = load_config(None, [*SIZES, "data.source=text", f"data.train_path={data / 'train.txt'}",
                             f"data.valid_path={data / 'valid.txt'}", "train.max_steps=30",
                             f"train.out_dir={root / 'run'}"])
    train(cfg, progress=False, log=lambda m: None, meta_extra={"command": COMMAND})
    return root / "run", data


@pytest.fixture
def run(text_run, tmp_path):
    """A private copy of the run, without any fitted prior (tests may fit one into it)."""
    copy = tmp_path / "run"
    shutil.copytree(text_run[0], copy, symlinks=True)
    for file in copy.glob("checkpoints/*/aggregate_prior.*"):
        file.unlink()
    return copy


@contextmanager
def data_gone(data: Path):
    """The training data renamed away, as on another machine; put back afterwards."""
    away = data.with_name(data.name + "-gone")
    data.rename(away)
    try:
        yield
    finally:
        away.rename(data)


def no_fitting(monkeypatch):
    """Make any read of training data, and any prior fit, fail the test."""

    def boom(*args, **kwargs):
        raise AssertionError("the training data was read or the prior was fitted")

    monkeypatch.setattr("textvae.text.api.aggregate.load_sentences", boom)
    monkeypatch.setattr("textvae.text.api.aggregate.fit_diagonal_gmm", boom)
    monkeypatch.setattr(TextVAE, "fit_aggregate_prior", boom)


def test_a_saved_folder_needs_nothing_outside_itself(run, text_run, tmp_path, monkeypatch):
    tv = load(run, device="cpu")
    folder = tv.save_pretrained(tmp_path / "export")  # fits the prior while the data is there
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", AGGREGATE_PRIOR_FILE, "config.yaml", "meta.json", "model.safetensors",
        "tokenizer"]  # no trainer.pt: the folder is for use
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    elsewhere = tmp_path / "elsewhere" / "model"
    shutil.copytree(folder, elsewhere)
    shutil.rmtree(folder)
    expected = tv.sample(4, prior="aggregate", seed=3)

    no_fitting(monkeypatch)
    with data_gone(text_run[1]):
        shared = textvae.from_pretrained(elsewhere, device="cpu")
        assert shared.path == elsewhere.resolve() and shared.meta["command"] == COMMAND
        state, original = shared.model.state_dict(), tv.model.state_dict()
        assert state.keys() == original.keys()
        assert all(torch.equal(state[k], original[k].cpu()) for k in state)
        assert shared.sample(4, prior="aggregate", seed=3) == expected
        assert len(shared.sample(3, seed=0)) == 3
        assert len(shared.interpolate(A, B, steps=5)) == 5
        assert len(shared.reconstruct([A, B])) == 2
        mu, logvar = shared.encode([A, B, A])
        assert mu.shape == logvar.shape == (3, 7)
        assert load(elsewhere, device="cpu").sample(4, prior="aggregate", seed=3) == expected
        assert not (elsewhere / "trainer.pt").exists()


def test_without_the_data_the_folder_is_saved_without_the_prior_and_says_so(run, text_run, tmp_path, capsys):
    with data_gone(text_run[1]):
        tv = load(run, device="cpu")
        with pytest.warns(UserWarning, match="without an aggregate prior: .* training data cannot be read"):
            folder = tv.save_pretrained(tmp_path / "export")
        assert not list(folder.glob("aggregate_prior.*"))
        assert json.loads((folder / "meta.json").read_text())["aggregate_prior"] is False
        card = (folder / "README.md").read_text()
        assert "This folder holds no aggregate prior: the training data could not be read" in card
        assert 'prior="standard"' in card

        shared = from_pretrained(folder, device="cpu")
        assert len(shared.sample(2, seed=0)) == 2  # the standard prior needs nothing
        with pytest.raises(DataError, match=r"holds no fitted aggregate prior .*textvae fit-prior -c"):
            shared.sample(2, prior="aggregate")
        assert main(["sample", "-c", str(folder), "--prior", "aggregate", "--n", "2"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("textvae: error: ") and len(err.splitlines()) == 1
        assert "--prior standard" in err

    # Where the data is, `textvae fit-prior -c FOLDER` completes the folder.
    assert main(["fit-prior", "-c", str(folder), "--n-components", "3"]) == 0
    assert (folder / AGGREGATE_PRIOR_FILE).is_file()


def test_the_model_card(run, tmp_path):
    tv = load(run, device="cpu")
    valid = tv.meta["valid"]
    folder = tv.save_pretrained(tmp_path / "export", repo_id="someone/tiny-vae")
    card = (folder / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert "library_name: textvae" in front and "- sentence-vae" in front and "- lstm" in front
    assert body.startswith("\n# someone/tiny-vae\n")
    assert "sentence variational autoencoder (Bowman et al. 2016" in body
    assert "| latent size | 7 |" in body
    assert f"| vocabulary | {tv.tokenizer.vocab_size:,} (word tokenizer) |" in body
    assert f"```bash\n{COMMAND}\n```" in body
    assert f"| -ELBO (nats per sentence, beta = 1) | {valid['neg_elbo']:.4g} |" in body
    assert f"| KL (nats per sentence) | {valid['kl']:.4g} |" in body
    assert f"| active units | {valid['active_units']} |" in body
    assert 'tv = textvae.from_pretrained("someone/tiny-vae")' in body
    assert "`aggregate_prior.safetensors` holds a 10-component" in body


def test_an_lm_baseline_is_shared_without_a_prior(tmp_path, tiny_config):
    cfg = tiny_config("model.model_type=lm", "train.max_steps=3")
    train(cfg, progress=False, log=lambda m: None)
    folder = load(cfg.train.out_dir, device="cpu").save_pretrained(tmp_path / "lm")
    assert not list(folder.glob("aggregate_prior.*"))
    card = (folder / "README.md").read_text()
    assert "an RNN language model" in card and "latent size" not in card
    assert "The training command was not recorded" in card  # trained from Python, not the CLI
    assert len(from_pretrained(folder, device="cpu").sample(2, seed=0)) == 2


def test_an_existing_non_empty_folder_is_refused_before_any_work(run, tmp_path, monkeypatch):
    tv = load(run, device="cpu")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    no_fitting(monkeypatch)
    with pytest.raises(InputError, match="already exists and is not an empty folder"):
        tv.save_pretrained(taken)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    monkeypatch.undo()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (tv.save_pretrained(empty) / "model.safetensors").is_file()  # an empty one is fine


def test_a_missing_folder_or_invalid_repo_id_is_one_clear_error(tmp_path):
    assert textvae.from_pretrained is from_pretrained  # exported lazily, like textvae.load
    with pytest.raises(CheckpointError, match="is not a local directory, nor a Hugging Face Hub repo id"):
        from_pretrained(str(tmp_path / "no" / "such" / "model"))


def _fake_hub_cache(cache: Path, repo_id: str, folder: Path) -> str:
    """The Hub's on-disk cache layout, as snapshot_download leaves it:
    models--owner--name/{refs/main, snapshots/<commit>/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return commit


def test_a_hub_repo_loads_from_the_local_cache_offline(run, tmp_path):
    tv = load(run, device="cpu")
    folder = tv.save_pretrained(tmp_path / "export")
    expected = tv.sample(3, prior="aggregate", seed=5)
    commit = _fake_hub_cache(tmp_path / "hub", "someone/tiny-vae", folder)
    code = """if True:
        import json, textvae
        import textvae.text.api.model as m
        from textvae.core.errors import CheckpointError

        def boom(*args, **kwargs):
            raise AssertionError("fitted")

        m.load_sentences = m.fit_diagonal_gmm = boom
        tv = textvae.from_pretrained("someone/tiny-vae", device="cpu")
        out = {"path": str(tv.path), "samples": tv.sample(3, prior="aggregate", seed=5)}
        for name in ("someone/not-cached", "/no/such/folder"):
            try:
                textvae.from_pretrained(name)
            except CheckpointError as err:
                out[name] = str(err)
        print(json.dumps(out))
    """
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["path"].endswith(f"models--someone--tiny-vae/snapshots/{commit}")
    assert out["samples"] == expected
    missing = out["someone/not-cached"]
    assert "HF_HUB_OFFLINE is set" in missing and str(tmp_path / "hub") in missing
    assert "\n" not in missing
    assert "nor a Hugging Face Hub repo id" in out["/no/such/folder"]


def test_push_to_hub_saves_a_folder_and_uploads_it(run, monkeypatch):
    import huggingface_hub

    calls = []

    class Commit:
        commit_url = "https://huggingface.co/someone/tiny-vae/commit/abc"

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs, self.token))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        root = Path(folder_path)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        calls.append(("upload_folder", repo_id, kwargs, files, (root / "README.md").read_text()))
        return Commit()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    tv = load(run, device="cpu")
    url = tv.push_to_hub("someone/tiny-vae", private=True, token="hf_secret")
    assert url == Commit.commit_url
    (_, repo, kwargs, token), (_, up_repo, up_kwargs, files, card) = calls
    assert (repo, token, kwargs) == ("someone/tiny-vae", "hf_secret",
                                     {"private": True, "exist_ok": True, "repo_type": "model"})
    assert up_repo == "someone/tiny-vae" and up_kwargs["repo_type"] == "model"
    assert [f for f in files if not f.startswith("tokenizer/")] == [
        "README.md", AGGREGATE_PRIOR_FILE, "config.yaml", "meta.json", "model.safetensors"]
    assert any(f.startswith("tokenizer/") for f in files)
    assert 'textvae.from_pretrained("someone/tiny-vae")' in card and COMMAND in card

    def refuse(self, **kwargs):
        raise RuntimeError("401 Unauthorized: invalid token")

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", refuse)
    with pytest.raises(CheckpointError, match="cannot push .* someone/tiny-vae .*401 Unauthorized"):
        tv.push_to_hub("someone/tiny-vae")
