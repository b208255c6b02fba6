"""The model API (textvae.load / TextVAE), the aggregate prior, and the generation CLI."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny import train_tiny

import textvae
from textvae.cli import main
from textvae.core.checkpoint import point_link
from textvae.core.errors import CheckpointError
from textvae.text.api import (
    AGGREGATE_PRIOR_FILE,
    DiagonalGMM,
    InputError,
    NoLatentSpaceError,
    TextVAE,
    fit_diagonal_gmm,
    load,
)
from textvae.text.data.grammar import generate
from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.generate import DecodingError
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.config import load_config

REPO = Path(__file__).resolve().parents[3]
A, B_, C = "the dog barked .", "the dogs barked .", "the cat ran ."
TINY = [
    "data.grammar_size=300",
    "model.embed_dim=11",
    "model.encoder_hidden_dim=13",
    "model.decoder_hidden_dim=17",
    "model.latent_dim=7",
    "train.batch_size=7",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(out, *overrides):
    return train_tiny(out, *TINY, *overrides)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("vae") / "run", "train.max_steps=30")


@pytest.fixture(scope="module")
def lm_run_dir(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("lm") / "run", "model.model_type=lm", "train.max_steps=5")


@pytest.fixture
def tv(run_dir):
    return load(run_dir, device="cpu")


# ------------------------------------------------------------------------------------ loading


def test_package_exports_load_lazily():
    code = "import sys, textvae; print('torch' in sys.modules, textvae.load is textvae.text.api.load)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    assert textvae.TextVAE is TextVAE and textvae.__version__
    with pytest.raises(AttributeError):
        textvae.no_such_name  # noqa: B018


def test_load_prefers_best_then_last(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    last = load(run, device="cpu")
    assert last.path == (run / "last").resolve() and last.model_type == "vae"
    best = run / "checkpoints" / "step-best"
    shutil.copytree(run / "last", best)
    point_link(run, "best", best)
    assert load(run, device="cpu").path == best.resolve()
    assert load(run / "last", device="cpu").path == (run / "last").resolve()  # a checkpoint dir
    assert not load(run, device="cpu").model.training


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*textvae train"):
        load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="not a complete textvae checkpoint"):
        load(tmp_path)


# ------------------------------------------------------------------------------------ encode/decode


def test_encode_decode_shapes_and_bad_input(tv):
    sentences = [A, B_, C, "the cats ran .", "a dog ran ."]
    mu, logvar = tv.encode(sentences)
    assert mu.shape == logvar.shape == (5, 7)
    assert len(tv.decode(mu)) == 5
    assert tv.decode(mu[0]) == tv.decode(mu[:1])  # a (Z,) vector is one code
    with pytest.raises(InputError, match="sentence 2 is empty"):
        tv.encode([A, "  "])
    with pytest.raises(InputError, match="'zzzz qqqq'.*unknown"):
        tv.encode(["zzzz qqqq"])
    with pytest.raises(InputError, match="wrap it in a list"):
        tv.encode(A)
    with pytest.raises(DecodingError, match="max_len"):
        tv.decode(mu, max_len=0)
    with pytest.raises(InputError, match=r"shape \(S, 7\)"):
        tv.decode(torch.zeros(2, 5))


def test_decoding_options_reach_the_decoders(tv):
    mu, _ = tv.encode([A, C])
    assert tv.decode(mu, method="beam", beam_size=1) == tv.decode(mu)
    assert tv.decode(mu, method="sample", top_k=1, seed=3) == tv.decode(mu)
    a = tv.decode(mu, method="sample", temperature=2.0, seed=7)
    assert a == tv.decode(mu, method="sample", temperature=2.0, seed=7)
    ids = tv.decode_ids(mu, max_len=2)
    assert all(len(row) <= 2 for row in ids)
    with pytest.raises(DecodingError, match="unknown decoding method"):
        tv.decode(mu, method="nucleus")
    with pytest.raises(DecodingError, match="unknown decoding option"):
        tv.sample(2, beam_width=3)


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_interpolation_endpoints_decode_their_own_encodings(tv, path):
    texts, z = tv.interpolate(A, C, steps=7, path=path, return_latents=True)
    assert len(texts) == 7 and z.shape == (7, 7)
    mu, _ = tv.encode([A, C])
    assert torch.equal(z[0], mu[0]) and torch.equal(z[-1], mu[1])
    assert texts[0] == tv.decode(mu[:1])[0]
    assert texts[-1] == tv.decode(mu[1:])[0]
    assert len(tv.interpolate(A, C, steps=2, path=path)) == 2


def test_interpolation_rejects_bad_input(tv):
    with pytest.raises(InputError, match="empty"):
        tv.interpolate(A, "")
    with pytest.raises(DecodingError, match="steps"):
        tv.interpolate(A, C, steps=1)
    with pytest.raises(DecodingError, match="path"):
        tv.interpolate(A, C, path="circle")


def test_prior_sampling_reconstruction_and_analogy(tv):
    texts, z = tv.sample(5, seed=11, return_latents=True)
    assert len(texts) == 5 and z.shape == (5, 7)
    assert tv.sample(5, seed=11) == texts
    assert torch.equal(tv.sample(5, seed=11, return_latents=True)[1], z)
    assert not torch.equal(tv.sample(5, seed=12, return_latents=True)[1], z)
    assert tv.decode(z) == texts
    left, right = tv.interpolate_prior(5, seed=2), tv.interpolate_prior(5, seed=2)
    assert left == right and len(left) == 5

    recon, rz = tv.reconstruct([A, C], source="sample", n=3, seed=4, return_latents=True)
    assert [len(r) for r in recon] == [3, 3] and rz.shape == (2, 3, 7)
    assert tv.reconstruct([A, C], source="sample", n=3, seed=4) == recon
    mu, _ = tv.encode([A, C])
    assert tv.reconstruct([A, C]) == [[t] for t in tv.decode(mu)]
    with pytest.raises(InputError, match="same sentence"):
        tv.reconstruct([A], n=2)
    assert len(tv.reconstruct([A], n=2, method="sample", seed=0)[0]) == 2

    text, az = tv.analogy(A, B_, C, return_latents=True)
    assert isinstance(text, str) and torch.allclose(az, mu[1] + tv.encode([B_])[0][0] - mu[0])
    assert text == tv.decode(az)[0]


# ------------------------------------------------------------------------------------ aggregate prior


def test_gmm_fit_recovers_a_known_mixture():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-6.0] * 7, [0.0] * 7, [6.0] * 7])
    centres[1, 0] = 9.0  # distinct, well-separated centres in 7-d
    scales = torch.tensor([0.5, 1.0, 0.7])
    counts = [600, 300, 900]
    x = torch.cat(
        [c + s * torch.randn(n, 7, generator=gen) for c, s, n in zip(centres, scales, counts, strict=True)]
    )
    gmm = fit_diagonal_gmm(x, 3, seed=1)
    order = gmm.means[:, 0].argsort()
    expected_order = centres[:, 0].argsort()
    assert torch.allclose(gmm.means[order], centres[expected_order], atol=0.2)
    assert torch.allclose(gmm.variances[order].mean(1), (scales**2)[expected_order], rtol=0.2)
    assert torch.allclose(gmm.weights[order], torch.tensor(counts, dtype=torch.float)[expected_order] / 1800, atol=0.01)
    # Seeded sampling is reproducible, and its samples lie near the fitted centres.
    draw = lambda seed: gmm.sample(500, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(5), draw(5)) and not torch.equal(draw(5), draw(6))
    assert torch.cdist(draw(5), centres).min(1).values.max() < 8.0
    assert gmm.log_prob(centres).shape == (3,)
    with pytest.raises(ValueError, match="n_components"):
        fit_diagonal_gmm(x[:2], 3)


def test_aggregate_prior_is_fitted_once_saved_and_reloaded(run_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    first = load(run, device="cpu")
    texts = first.sample(6, prior="aggregate", seed=1)
    file = run / "last" / AGGREGATE_PRIOR_FILE
    assert file.is_file()
    state = load_file(file)  # safetensors: any reader can read it, nothing to unpickle
    assert set(state) == {"weights", "means", "variances"}
    assert state["means"].shape == (10, 7) and state["weights"].shape == (10,)
    assert not [p for p in file.parent.iterdir() if p.name.startswith(".")]  # no temp file left

    # A fresh load reads the file instead of refitting, and samples the same sentences.
    def refit(*args, **kwargs):
        raise AssertionError("the aggregate prior was refitted")

    monkeypatch.setattr(TextVAE, "fit_aggregate_prior", refit)
    again = load(run, device="cpu")
    assert again.sample(6, prior="aggregate", seed=1) == texts
    assert torch.equal(again.aggregate_prior().means, state["means"])
    monkeypatch.undo()

    refit_prior = load(run, device="cpu").fit_aggregate_prior(3, seed=2)
    assert load_file(file)["means"].shape == (3, 7)
    assert isinstance(refit_prior, DiagonalGMM)

    file.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="fit-prior"):
        load(run, device="cpu").sample(2, prior="aggregate")


# ------------------------------------------------------------------------------------ model matrix


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_decoding_path_runs_for_every_encoder_variant(rnn_type, layers, bidirectional):
    sentences = [s.text for s in generate(37, seed=5)]
    tok = WordTokenizer.build(sentences)
    cfg = load_config(None, [
        *TINY, f"model.rnn_type={rnn_type}", f"model.encoder_layers={layers}",
        f"model.decoder_layers={layers}", f"model.bidirectional={bidirectional}",
    ])
    torch.manual_seed(0)
    tv = TextVAE(build_model(cfg.model, tok.vocab_size, tok.pad_id), tok, cfg, device="cpu")
    mu, logvar = tv.encode(sentences[:5])
    assert mu.shape == logvar.shape == (5, 7)
    for method in ("greedy", "sample", "beam"):
        options = {"method": method, "max_len": 9, "seed": 1}
        if method == "beam":
            options["beam_size"] = 3  # greedy and sampling refuse an option they would ignore
        assert len(tv.decode(mu, **options)) == 5
        recon = tv.reconstruct(sentences[:5], source="sample", n=2, **options)
        assert [len(r) for r in recon] == [2] * 5
        assert len(tv.interpolate(sentences[0], sentences[1], steps=3, **options)) == 3


# ------------------------------------------------------------------------------------ LM baseline


def test_lm_baseline_samples_but_has_no_latent_space(lm_run_dir):
    lm = load(lm_run_dir, device="cpu")
    assert lm.model_type == "lm" and lm.latent_dim is None
    texts = lm.sample(4, seed=0, max_len=12)
    assert len(texts) == 4 and lm.sample(4, seed=0, max_len=12) == texts
    assert lm.sample(3, method="greedy", max_len=12, return_latents=True)[1] is None
    with pytest.raises(NoLatentSpaceError, match="has no latent space"):
        lm.interpolate(A, C)
    for call in (lambda: lm.encode([A]), lambda: lm.analogy(A, B_, C), lambda: lm.reconstruct([A]),
                 lambda: lm.decode(torch.zeros(1, 7)), lambda: lm.fit_aggregate_prior()):
        with pytest.raises(NoLatentSpaceError):
            call()
    assert main(["interpolate", "-c", str(lm_run_dir), A, C]) == 2


def test_the_lm_baseline_samples_by_default_so_sampling_flags_apply(lm_run_dir, capsys):
    ck = ["sample", "-c", str(lm_run_dir), "--n", "2", "--max-len", "9"]
    for flags in ([], ["--temperature", "0.7", "--top-k", "5"], ["--method", "beam", "--beam-size", "2"]):
        assert main([*ck, *flags]) == 0, flags
        assert len(capsys.readouterr().out.splitlines()) == 2
    assert main([*ck, "--beam-size", "2"]) == 2
    assert ("--beam-size applies to --method beam; sample decoding ignores it"
            in capsys.readouterr().err)


# ------------------------------------------------------------------------------------ CLI


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


def test_cli_jsonl_output(run_dir, capsys):
    ck = ["-c", str(run_dir), "--device", "cpu", "--format", "jsonl"]
    assert main(["sample", *ck, "--n", "3", "--method", "sample", "--top-p", "0.9"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert len(rows) == 3 and len(rows[0]["z"]) == 7
    assert rows[0]["settings"]["method"] == "sample" and rows[0]["settings"]["top_p"] == 0.9

    assert main(["reconstruct", *ck, A, C, "--source", "sample", "--n", "2"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert [r["input"] for r in rows] == [A, C] and len(rows[0]["outputs"]) == 2
    assert len(rows[0]["z"]) == 2 and len(rows[0]["z"][0]) == 7

    assert main(["interpolate", *ck, A, C, "--steps", "5", "--path", "slerp"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4] and rows[-1]["t"] == 1.0
    assert rows[0]["settings"]["path"] == "slerp"

    assert main(["analogy", *ck, A, B_, C, "--method", "beam"]) == 0
    (row,) = _jsonl(capsys.readouterr().out)
    assert row["c"] == C and isinstance(row["text"], str) and len(row["z"]) == 7

    # text output agrees with the library
    assert main(["interpolate", "-c", str(run_dir), A, C, "--steps", "4"]) == 0
    assert capsys.readouterr().out.splitlines() == load(run_dir, device="cpu").interpolate(A, C, steps=4)


def test_cli_reads_stdin_and_files(run_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{A}\n{C}\n"))
    assert main(["reconstruct", "-c", str(run_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"> {A}" and f"> {C}" in out
    file = tmp_path / "pair.txt"
    file.write_text(f"{A}\n{C}\n")
    assert main(["interpolate", "-c", str(run_dir), "--file", str(file), "--steps", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{A}\n"))
    assert main(["interpolate", "-c", str(run_dir)]) == 2
    assert "needs exactly 2 sentences, got 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["interpolate", "", C], "sentence 1 is empty"),
        (["reconstruct", A, "--max-len", "0"], "max_len must be an integer >= 1"),
        (["sample", "--max-len", "0"], "max_len must be an integer >= 1"),
        (["sample", "--temperature", "0"], "temperature must be"),
        (["analogy", A, B_], "needs exactly 3 sentences"),
    ],
)
def test_cli_errors_are_one_line_with_exit_status_2(run_dir, capsys, argv, message):
    assert main([argv[0], "-c", str(run_dir), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: ") and message in err and err.count("\n") == 1


def test_cli_missing_default_checkpoint_says_how_to_make_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["interpolate", A, C]) == 2
    err = capsys.readouterr().err
    assert "runs/quickstart" in err and "textvae train --config quickstart" in err


def test_cli_fit_prior(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    assert main(["fit-prior", "-c", str(run), "--n-components", "4"]) == 0
    out, err = capsys.readouterr()
    assert "4-component" in out
    lines = err.splitlines()  # the minutes of a fit are announced, then timed
    assert lines[0].startswith("fitting the aggregate prior to ") and lines[0].endswith(
        f" training sentences (once; saved in {(run / 'last').resolve()})...")
    assert lines[1].startswith("fitted the aggregate prior in ") and len(lines) == 2
    assert load_file(run / "last" / AGGREGATE_PRIOR_FILE)["weights"].shape == (4,)
    assert main(["sample", "-c", str(run), "--prior", "aggregate", "--n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_interpolate_script_is_a_thin_wrapper_without_heavy_imports(run_dir):
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['interpolate.py', '-c', {str(run_dir)!r}, {A!r}, {C!r}, '--steps', '3']\n"
        "try:\n"
        f"    runpy.run_path({str(REPO / 'scripts' / 'interpolate.py')!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(sorted(m for m in ('datasets', 'sklearn', 'pandas') if m in sys.modules))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "[]"
