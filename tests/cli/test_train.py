"""`textvae train --train FILE`, `textvae config --list/--show` and `textvae --version`."""

import json

import pytest

from textvae.cli import main
from textvae.core.version import __version__
from textvae.text.run.checkpoint import load_checkpoint

RAW = [
    "The car, parked outside, was RED.", "the dog barked at the car!", "Is the car red?",
    "My sister's guitar was loud.", "The house, the car and the dog.", "\"Hello,\" she said.",
]


def _small(*extra):
    return ["--set", "model.embed_dim=11", "--set", "model.encoder_hidden_dim=13",
            "--set", "model.decoder_hidden_dim=15", "--set", "model.latent_dim=7",
            "--set", "model.tie_embeddings=false",  # the `text` recipe ties; sizes differ here
            "--set", "train.amp=off", "--set", "train.batch_size=9", "--no-progress", *extra]


def test_train_on_a_raw_text_file_with_no_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reviews.txt").write_text("".join(f"{s}\n" for s in RAW * 23))
    assert main(["train", "--train", "reviews.txt", *_small("--set", "train.epochs=2")]) == 0
    out = capsys.readouterr().out
    # The `text` recipe holds the KL at a set point, and picks `best` by reconstruction.
    assert "best by validation reconstruction, the KL held at its set point" in out
    checkpoint = load_checkpoint(tmp_path / "runs" / "reviews")  # runs/<the file's name>
    kl = checkpoint.config.train.kl
    assert (kl.kind, kl.target, checkpoint.config.data.tokenizer.min_freq) == ("target", 40.0, 2)
    data = checkpoint.config.data
    assert (data.source, data.valid_path, data.valid_fraction) == ("text", None, 0.1)
    assert data.train_path == str(tmp_path / "reviews.txt")  # absolute: usable from anywhere
    tokenizer = checkpoint.tokenizer  # lowercased, punctuation split off
    assert tokenizer.encode("CAR,") == tokenizer.encode("car ,")
    assert tokenizer.unk_id not in tokenizer.encode("The car")
    rows = [json.loads(x) for x in (tmp_path / "runs/reviews/metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["split"] == "valid"


def test_train_with_a_validation_file_and_a_set_that_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("".join(f"{s}\n" for s in RAW * 5))
    (tmp_path / "b.txt").write_text("the car was red .\n")
    assert main(["train", "--train", "a.txt", "--valid", "b.txt",
                 *_small("--set", "train.max_steps=3", "--set", "train.out_dir=elsewhere")]) == 0
    data = load_checkpoint(tmp_path / "elsewhere").config.data
    assert data.valid_path == str(tmp_path / "b.txt")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train"], "nothing to train: give --train FILE"),
        (["train", "--valid", "v.txt"], "--valid needs --train FILE"),
        (["train", "--train", "missing.txt"], "--train missing.txt: no such file"),
        (["train", "--config", "nonesuch"], "config file not found: nonesuch"),
    ],
)
def test_train_refuses_what_it_cannot_train(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_config_lists_and_shows_the_shipped_configs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["config", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("quickstart ") and "grammar corpus" in line for line in listed)
    assert any(line.startswith("text ") for line in listed)
    assert main(["config", "--show", "quickstart"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# textvae train --config quickstart\n") and "max_steps: 9000" in shown


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"textvae {__version__}"


@pytest.mark.parametrize("error", [
    "InputError",  # e.g. every token of a sentence unknown
    "RuntimeError",  # anything else
])
def test_a_failing_closing_summary_warns_and_keeps_training_s_status(tmp_path, monkeypatch,
                                                                     capsys, error):
    import textvae.cli.train
    from textvae.core.errors import InputError

    def fails(run_dir, cfg):
        print("samples from N(0, I):")
        raise {"InputError": InputError, "RuntimeError": RuntimeError}[error]("it went\nwrong")

    monkeypatch.setattr(textvae.cli.train, "_show_samples", fails)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("".join(f"{s}\n" for s in RAW * 5))
    assert main(["train", "--train", "mine.txt", *_small("--set", "train.max_steps=2")]) == 0
    err = capsys.readouterr().err
    reason = "it went wrong" if error == "InputError" else "RuntimeError: it went wrong"
    assert err == ("textvae: warning: the run finished and its checkpoint is saved, but the "
                   f"closing samples failed: {reason}\n")
    assert load_checkpoint(tmp_path / "runs" / "mine").meta["step"] == 2


def test_the_closing_interpolation_skips_sentences_it_cannot_encode(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.txt").write_text("".join(f"{s}\n" for s in RAW * 5))
    # the first validation sentences are all unknown words, or too long to encode
    (tmp_path / "valid.txt").write_text("zyzzyva qwxj\n" + " ".join(["car"] * 5000) + "\n"
                                        "Xylophone quux\nthe dog barked.\nis the car red?\n")
    assert main(["train", "--train", "train.txt", "--valid", "valid.txt",
                 *_small("--set", "train.max_steps=2")]) == 0
    out, err = capsys.readouterr()
    assert "interpolation from 'the dog barked.' to 'is the car red?':" in out
    assert err == ""
    # with fewer than two it can encode, it says so and still succeeds
    (tmp_path / "valid.txt").write_text("zyzzyva qwxj\nthe dog barked.\n")
    assert main(["train", "--train", "train.txt", "--valid", "valid.txt",
                 *_small("--set", "train.max_steps=2", "--set", "train.out_dir=runs/two")]) == 0
    out, err = capsys.readouterr()
    assert "no interpolation: fewer than two validation sentences can be encoded" in out
    assert "interpolation from" not in out and err == ""
