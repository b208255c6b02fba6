"""Print RESULTS.md's tables from the evaluation reports that scripts/results.sh writes.

    python scripts/results_table.py ptb [runs/results/ptb] [--subset eval-test-k500-n300-seed0.json]
    python scripts/results_table.py ptb_converged [runs/results/ptb_converged] [--subset ...]
                                    [--lm lm_wd]
    python scripts/results_table.py grammar [runs/results/grammar]

PTB: for each row directory it reads two `textvae evaluate` reports: the whole test split at K = 1
(`eval-test-k1.json`: -ELBO, KL, mutual information, active units) and the random test subset at
K = 500 (IW-NLL and its perplexity). The LM row's subset report gives the exact NLL of the same
sentences, so each VAE's IW-NLL is also shown as a paired difference from the LM, with the
standard error of the mean difference; `--lm ROW` pairs with another LM row (ptb_converged's
`lm_wd`, the LM trained with word dropout; `transformer_lm` for the transformer rows) instead of
`lm`. ptb_converged adds the latent-use
columns of the K = 1 report: distinct-1 / distinct-2 of the greedy decodes of 1,000 prior
samples, and the share of homotopy points whose decode differs from both neighbours'.

Grammar: the whole-test K = 500 report (`eval-test-k500.json`) of each row, with the grammar
quality report's headline shares.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textvae.core.errors import InputError
from textvae.text.evaluate.paired import paired_difference

ROWS = {
    "ptb": ("lm", "bowman", "cyclical", "freebits", "aggressive", "pretrain_freebits",
            "freebits_016", "freebits_018", "freebits_020", "freebits_total6"),
    "ptb_converged": ("lm", "lm_wd", "bowman", "freebits_018", "bn_06", "bn_07", "bn_07_zin",
                      "du_vae", "transformer_lm", "transformer_bn_07", "transformer_bowman",
                      "transformer_bn_07_lm_init", "transformer_bn_065_lm_init",
                      "transformer_bn_06_lm_init", "transformer_bn_065_both_lm_init",
                      "transformer_bn_06_both_lm_init"),
    "grammar": ("lm", "quickstart", "quickstart_recon"),
}


def find_report(run_dir: Path, name: str) -> dict | None:
    """The report ``textvae evaluate RUN_DIR`` wrote: in the checkpoint it evaluates, ``best``
    if the run has one, else ``last`` (an older checkpoint's report would be stale)."""
    for link in ("best", "last"):
        if (run_dir / link).exists():
            report = run_dir / link / name
            return json.loads(report.read_text()) if report.exists() else None
    return None


def budget(run_dir: Path) -> str:
    """"epochs (steps), minutes" from the last training line of metrics.jsonl (epochs as a
    fraction when the run stopped mid-epoch) and train_wall_seconds."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r.get("split") == "train"]
    if not train:
        return "?"
    steps = max(r["step"] for r in lines)  # the closing validation has the final step
    if len({r["epoch"] for r in lines}) == 1:
        epochs = "< 1"  # stopped inside the first epoch: its length is unknown here
    else:
        per_epoch = max(r["step"] for r in train if r["epoch"] == 0)
        epochs = f"{steps / per_epoch:.2f}"
    wall = run_dir / "train_wall_seconds"
    minutes = f", {int(wall.read_text()) / 60:.1f} min" if wall.exists() else ""
    return f"{epochs} ({steps}){minutes}"


def ptb_table(root: Path, subset: str, table: str = "ptb", lm_row: str = "lm") -> None:
    lm_subset = find_report(root / lm_row, subset)
    if lm_subset is not None and "latent" in lm_subset:
        raise SystemExit(f"--lm {lm_row}: a VAE row, not an LM")
    latent_use = table == "ptb_converged"
    extra = " distinct-1 / 2 | homotopy changes |" if latent_use else ""
    print(f"| row | IW-NLL, K = 500 (subset) | VAE - {lm_row}, paired | PPL (subset) "
          f"| -ELBO (test) | KL | MI | AU |{extra} epochs (steps), wall time | command |")
    print("|---" * (12 if latent_use else 10) + "|")
    for row in ROWS[table]:
        run_dir = root / row
        if not run_dir.exists():
            continue
        sub = find_report(run_dir, subset)
        full = find_report(run_dir, "eval-test-k1.json")
        cells = [row]
        if sub:
            lik = sub["likelihood"]
            nll = lik.get("iw_nll_nats_per_sentence", lik.get("nll_nats_per_sentence"))
            cells.append(f"{nll:.2f}")
            if "latent" in sub and lm_subset:  # an LM row has no latent to pair
                try:
                    mean, se = paired_difference(sub, lm_subset)
                except InputError as err:
                    raise SystemExit(f"{row} against {lm_row}: {err}") from None
                cells.append(f"{mean:+.2f}" + (f" ± {se:.2f}" if se is not None else ""))
            else:
                cells.append("–")
            cells.append(f"{lik['ppl_per_token_incl_eos']:.1f}")
        else:
            cells += ["?"] * 3
        if full and "latent" in full:
            lik, lat = full["likelihood"], full["latent"]
            cells += [f"{lik['neg_elbo_nats_per_sentence']:.2f}",
                      f"{lik['kl_nats_per_sentence']:.2f}",
                      f"{lat['mutual_information_nats']:.2f}", str(lat["active_units"])]
        elif full:  # the LM: exact NLL on the whole test split
            cells += [f"{full['likelihood']['nll_nats_per_sentence']:.2f} (exact NLL)"] + ["–"] * 3
        else:
            cells += ["?"] * 4
        if latent_use:
            div = full.get("diversity") if full else None
            cells.append(f"{div['distinct_1']:.3f} / {div['distinct_2']:.3f}" if div else "?")
            hom = full.get("homotopy") if full else None
            cells.append(f"{hom['changed_share']:.0%}" if hom else "–")
        cells += [budget(run_dir), f"`bash scripts/results.sh {table} {row}`"]
        print("| " + " | ".join(cells) + " |")


def grammar_table(root: Path) -> None:
    print("| row | IW-NLL, K = 500 | PPL | -ELBO | KL | MI | AU | exact match | token acc. "
          "| grammatical: N(0, I) greedy / aggregate / homotopy | epochs (steps), wall time | command |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in ROWS["grammar"]:
        run_dir = root / row
        report = find_report(run_dir, "eval-test-k500.json") if run_dir.exists() else None
        if report is None:
            continue
        lik = report["likelihood"]
        nll = lik.get("iw_nll_nats_per_sentence", lik.get("nll_nats_per_sentence"))
        cells = [row, f"{nll:.2f}", f"{lik['ppl_per_token_incl_eos']:.2f}"]
        if "latent" in report:
            rec, q = report["reconstruction"], report.get("grammar_quality", {})
            share = q.get("grammaticality", {})
            cells += [f"{lik['neg_elbo_nats_per_sentence']:.2f}", f"{lik['kl_nats_per_sentence']:.2f}",
                      f"{report['latent']['mutual_information_nats']:.2f}",
                      str(report["latent"]["active_units"]), f"{rec['exact_match']:.1%}",
                      f"{rec['token_accuracy']:.1%}",
                      " / ".join(f"{share[k]:.1%}" for k in ("prior_standard_greedy",
                                 "prior_aggregate_greedy", "homotopy_intermediates"))
                      if share else "–"]
        else:
            cells += ["–"] * 7
        cells += [budget(run_dir), f"`bash scripts/results.sh grammar {row}`"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=sorted(ROWS))
    parser.add_argument("root", nargs="?", help="default runs/results/TABLE")
    parser.add_argument("--subset", default="eval-test-k500-n300-seed0.json",
                        help="the PTB subset report's file name")
    parser.add_argument("--lm", default="lm", dest="lm_row",
                        help="the LM row each VAE is paired with (PTB tables)")
    args = parser.parse_args()
    root = Path(args.root or f"runs/results/{args.table}")
    if not any((root / row).is_dir() for row in ROWS[args.table]):
        raise SystemExit(f"no {args.table} rows in {root}; run `bash scripts/results.sh "
                         f"{args.table} ROW` first, or give the directory that holds them")
    if args.table.startswith("ptb"):
        if args.lm_row not in ROWS[args.table]:
            raise SystemExit(f"--lm {args.lm_row}: not a {args.table} row")
        ptb_table(root, args.subset, args.table, args.lm_row)
    else:
        grammar_table(root)


if __name__ == "__main__":
    main()
