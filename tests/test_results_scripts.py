"""scripts/results.sh (RESULTS.md's rows) and scripts/results_table.py (its tables)."""

import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from textvae.text.run.config import load_config

REPO = Path(__file__).resolve().parents[1]
ROWS = [("ptb", r) for r in ("lm", "bowman", "cyclical", "freebits", "aggressive",
                             "pretrain_freebits", "freebits_016", "freebits_018", "freebits_020",
                             "freebits_total6")]
# The free-bits target (nats) and mode each free-bits row trains with.
FREE_BITS = {"freebits": (0.25, "dim"), "freebits_016": (0.16, "dim"),
             "freebits_018": (0.18, "dim"), "freebits_020": (0.20, "dim"),
             "freebits_total6": (6.0, "total")}
ROWS += [("ptb_converged", r) for r in ("lm", "lm_wd", "bowman", "freebits_018", "bn_06", "bn_07",
                                         "bn_07_zin", "du_vae", "transformer_lm",
                                         "transformer_bn_07", "transformer_bowman",
                                         "transformer_bn_07_lm_init",
                                         "transformer_bn_065_lm_init",
                                         "transformer_bn_06_lm_init",
                                         "transformer_bn_065_both_lm_init",
                                         "transformer_bn_06_both_lm_init")]
ROWS += [("grammar", r) for r in ("lm", "quickstart", "quickstart_recon")]
# The posterior head of each converged row: BN-VAE's gamma, DU-VAE's variance dropout and floor.
HEADS = {"lm": (None, 0.0, 0.0), "lm_wd": (None, 0.0, 0.0), "bowman": (None, 0.0, 0.0),
         "freebits_018": (None, 0.0, 0.0), "bn_06": (0.6, 0.0, 0.0), "bn_07": (0.7, 0.0, 0.0),
         "bn_07_zin": (0.7, 0.0, 0.0),
         "du_vae": (0.5, 0.2, 1.0), "transformer_lm": (None, 0.0, 0.0),
         "transformer_bn_07": (0.7, 0.0, 0.0), "transformer_bowman": (None, 0.0, 0.0),
         "transformer_bn_07_lm_init": (0.7, 0.0, 0.0),
         "transformer_bn_065_lm_init": (0.65, 0.0, 0.0),
         "transformer_bn_06_lm_init": (0.6, 0.0, 0.0),
         "transformer_bn_065_both_lm_init": (0.65, 0.0, 0.0),
         "transformer_bn_06_both_lm_init": (0.6, 0.0, 0.0)}
# The KL schedule of each converged row that anneals (the others hold the weight at 1).
ANNEALED = {"bowman", "transformer_bowman"}


def dry_run(table: str, row: str, phase: str = "all", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/results.sh", table, row, phase, "/tmp/out"], cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "RESULTS_DRY_RUN": "1", **env}, capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(("table", "row"), ROWS)
def test_every_row_is_a_valid_training_command(table, row):
    done = dry_run(table, row)
    assert done.returncode == 0, done.stderr
    words = shlex.split(done.stdout)
    assert words[:2] == ["textvae", "train"]
    config = words[words.index("--config") + 1]
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    cfg = load_config(REPO / config, overrides)  # unknown keys or bad values raise here
    assert cfg.train.out_dir == f"/tmp/out/{row}"
    if table == "ptb":
        assert cfg.train.epochs == 6 and cfg.train.amp == "bf16"
        if row in FREE_BITS:
            assert (cfg.train.free_bits, cfg.train.free_bits_mode) == FREE_BITS[row]
    elif table == "ptb_converged":  # early stopping, not a fixed budget
        assert cfg.train.amp == "bf16" and cfg.train.epochs == 30 and cfg.train.max_steps is None
        assert (cfg.train.early_stop_patience, cfg.train.lr_patience) == (3, 1)
        model = cfg.model
        assert (model.posterior_bn_gamma, model.posterior_var_dropout,
                model.posterior_var_floor) == HEADS[row]
        assert cfg.train.free_bits == (0.18 if row == "freebits_018" else 0.0)
        assert model.z_to_inputs == (row == "bn_07_zin")
        assert model.z_conditioning == ("both" if "_both_" in row else "memory")
        transformer = "transformer" if row.startswith("transformer") else "rnn"
        assert model.decoder == transformer and model.encoder == (
            "rnn" if row == "transformer_lm" else transformer)
        if row.endswith("lm") or row == "lm_wd":  # lm_wd: with the Bowman VAE's word dropout
            assert model.model_type == "lm"
            assert cfg.train.word_dropout == (0.3 if row == "lm_wd" else 0.0)
        else:
            assert model.model_type == "vae"
            assert cfg.train.word_dropout == (0.3 if row in ANNEALED else 0.0)
            assert (cfg.train.kl.kind == "logistic") == (row in ANNEALED)
        # Only the warm-started row starts from another row's weights.
        warm = "/tmp/out/transformer_lm" if row.endswith("_lm_init") else None
        assert cfg.train.init_from == warm
        assert cfg.train.lr == (2.5e-4 if warm else 5e-4 if transformer == "transformer" else 1e-3)
    else:
        assert cfg.train.max_minutes is None and cfg.train.max_steps is not None


def test_converged_rows_take_a_precision_and_a_time_cap_from_the_environment():
    done = dry_run("ptb_converged", "transformer_lm", RESULTS_AMP="off", RESULTS_MAX_MINUTES="70")
    words = shlex.split(done.stdout)
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    cfg = load_config(REPO / words[words.index("--config") + 1], overrides)
    assert (cfg.train.amp, cfg.train.max_minutes) == ("off", 70)
    words = shlex.split(dry_run("ptb_converged", "transformer_lm").stdout)
    assert "train.amp=bf16" in words and not any("max_minutes" in w for w in words)


def test_resume_goes_on_from_the_last_checkpoint():
    assert "--resume" in shlex.split(dry_run("ptb_converged", "transformer_lm", "resume").stdout)
    assert "--resume" not in shlex.split(dry_run("ptb_converged", "transformer_lm").stdout)


def _with_stub_textvae(tmp_path: Path, phase: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run results.sh's training phase against a stand-in `textvae` that records its arguments
    and takes a second, so the wall-time bookkeeping is checked without training."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "textvae"
    stub.write_text(f'#!/bin/bash\necho "$@" > {tmp_path}/args\nsleep 1\n')
    stub.chmod(0o755)
    done = subprocess.run(["bash", "scripts/results.sh", "grammar", "lm", phase, str(tmp_path)],
                          cwd=REPO, env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True)
    return done, (tmp_path / "args").read_text()


def test_resume_adds_its_seconds_to_the_rows_wall_time(tmp_path):
    (tmp_path / "lm").mkdir()
    wall = tmp_path / "lm" / "train_wall_seconds"
    wall.write_text("1234\n")
    done, args = _with_stub_textvae(tmp_path, "resume")
    assert done.returncode == 0, done.stderr
    assert "--resume" in args.split()
    assert 1235 <= int(wall.read_text()) <= 1244  # the earlier segment plus this one's second
    done, args = _with_stub_textvae(tmp_path, "train")  # a fresh training starts the count again
    assert done.returncode == 0 and "--resume" not in args.split()
    assert 1 <= int(wall.read_text()) <= 10


def test_an_unknown_phase_is_refused():
    done = dry_run("ptb", "lm", "evaluat")
    assert done.returncode == 2 and "unknown phase 'evaluat'" in done.stderr


def test_an_unknown_row_is_refused():
    done = dry_run("ptb", "quickstart")
    assert done.returncode == 2 and "unknown row 'ptb quickstart'" in done.stderr
    done = subprocess.run(["bash", "scripts/results.sh"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: bash scripts/results.sh")


def test_table_of_a_directory_without_rows_says_so(tmp_path):
    done = run_table(tmp_path, "grammar")
    assert done.returncode != 0 and f"no grammar rows in {tmp_path}" in done.stderr


def _report(run_dir: Path, name: str, nll: list[float], index: list[int], vae: bool) -> None:
    likelihood = {"ppl_per_token_incl_eos": 100.0}
    if vae:
        likelihood |= {"iw_nll_nats_per_sentence": sum(nll) / len(nll),
                       "neg_elbo_nats_per_sentence": 9.0, "kl_nats_per_sentence": 5.5}
    else:
        likelihood["nll_nats_per_sentence"] = sum(nll) / len(nll)
    report = {"likelihood": likelihood,
              "per_sentence": {"iw_nll_nats": nll, "split_index": index}}
    if vae:
        report["latent"] = {"mutual_information_nats": 3.25, "active_units": 7}
    (run_dir / "best").mkdir(parents=True, exist_ok=True)
    (run_dir / "best" / name).write_text(json.dumps(report))
    lines = [{"split": "train", "step": s, "epoch": (s - 1) // 5} for s in (5, 10, 13)]
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines))


def run_table(root: Path, name: str = "ptb", *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/results_table.py", name, str(root), *options],
                          cwd=REPO, capture_output=True, text=True)


def table(root: Path, name: str = "ptb", *options: str) -> list[str]:
    done = run_table(root, name, *options)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_ptb_table_pairs_each_vae_with_the_lm(tmp_path):
    subset = "eval-test-k500-n300-seed0.json"
    lm, vae = [10.0, 20.0, 30.0, 40.0], [9.0, 21.0, 28.0, 39.0]
    _report(tmp_path / "lm", subset, lm, [3, 5, 8, 13], vae=False)
    _report(tmp_path / "freebits", subset, vae, [3, 5, 8, 13], vae=True)
    _report(tmp_path / "freebits", "eval-test-k1.json", vae, list(range(4)), vae=True)
    (tmp_path / "freebits" / "train_wall_seconds").write_text("90\n")
    lines = table(tmp_path)
    diff = [v - b for v, b in zip(vae, lm, strict=True)]  # -1, +1, -2, -1: mean -0.75
    se = math.sqrt(sum((d + 0.75) ** 2 for d in diff) / 3 / 4)
    row = next(line for line in lines if line.startswith("| freebits"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "24.25" and cells[2] == f"-0.75 ± {se:.2f}"
    assert cells[4:8] == ["9.00", "5.50", "3.25", "7"]
    assert cells[8] == "2.60 (13), 1.5 min"  # 13 steps at 5 per epoch; 90 s
    # Different sentences cannot be paired.
    _report(tmp_path / "freebits", subset, vae, [3, 5, 8, 14], vae=True)
    done = run_table(tmp_path)
    assert done.returncode != 0 and "freebits against lm: the two reports scored different sentences" in done.stderr


def test_converged_table_adds_the_latent_use_columns(tmp_path):
    subset = "eval-test-k500-n300-seed0.json"
    _report(tmp_path / "lm", subset, [10.0, 20.0, 30.0], [2, 4, 6], vae=False)
    _report(tmp_path / "bn_07", subset, [9.0, 19.0, 31.0], [2, 4, 6], vae=True)
    _report(tmp_path / "bn_07", "eval-test-k1.json", [9.0, 19.0, 31.0], [0, 1, 2], vae=True)
    full = tmp_path / "bn_07" / "best" / "eval-test-k1.json"
    report = json.loads(full.read_text())
    report["diversity"] = {"distinct_1": 0.0613, "distinct_2": 0.2871}
    report["homotopy"] = {"changed_share": 0.8125}
    full.write_text(json.dumps(report))
    lines = table(tmp_path, "ptb_converged")
    assert lines[0].count("|") == lines[1].count("|") == 13  # 12 columns
    row = next(line for line in lines if line.startswith("| bn_07"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[8:10] == ["0.061 / 0.287", "81%"]
    assert cells[-1] == "`bash scripts/results.sh ptb_converged bn_07`"


def test_converged_table_pairs_with_the_lm_row_it_is_given(tmp_path):
    subset = "eval-test-k500-n300-seed0.json"
    _report(tmp_path / "lm", subset, [10.0, 20.0, 30.0], [2, 4, 6], vae=False)
    _report(tmp_path / "lm_wd", subset, [9.5, 19.0, 29.0], [2, 4, 6], vae=False)
    _report(tmp_path / "bowman", subset, [9.0, 19.0, 28.0], [2, 4, 6], vae=True)
    cell = lambda lines, row: next(  # noqa: E731
        [c.strip() for c in line.strip("|").split("|")] for line in lines
        if line.startswith(f"| {row} "))[2]
    lines = table(tmp_path, "ptb_converged")  # differences -1, -1, -2
    assert "VAE - lm, paired" in lines[0] and cell(lines, "bowman") == "-1.33 ± 0.33"
    lines = table(tmp_path, "ptb_converged", "--lm", "lm_wd")  # differences -0.5, 0, -1
    assert "VAE - lm_wd, paired" in lines[0] and cell(lines, "bowman") == "-0.50 ± 0.29"
    assert cell(lines, "lm") == cell(lines, "lm_wd") == "–"  # an LM is not paired
    for bad, says in (("bowman", "a VAE row, not an LM"), ("nope", "not a ptb_converged row")):
        done = run_table(tmp_path, "ptb_converged", "--lm", bad)
        assert done.returncode != 0 and says in done.stderr


def test_ptb_best_is_the_bn_07_zin_row_it_reports():
    """configs/ptb_best.yaml must stay the recipe whose figures RESULTS.md quotes for it."""
    words = shlex.split(dry_run("ptb_converged", "bn_07_zin").stdout)
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    row = load_config(REPO / words[words.index("--config") + 1], overrides)
    best = load_config(REPO / "configs/ptb_best.yaml")
    assert best.model == row.model and best.data == row.data
    settings = lambda cfg: {k: v for k, v in vars(cfg.train).items()  # noqa: E731
                            if k not in ("out_dir", "amp")}
    assert settings(best) == settings(row)
    assert best.train.amp == "auto"  # bf16 on this AMX CPU, as the row trained
