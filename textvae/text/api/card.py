"""The model card (``README.md``) of a shareable model folder: Hugging Face front matter
(``library_name: textvae``, tags) and a body that says what the model is, how it was trained,
how well it did on validation, and how to load it.

A pure function of the config and meta.json, so a test can read every line it writes.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# meta["valid"] keys in the order and words of the card; any other numeric key follows as is.
_FIGURES = {
    "neg_elbo": "-ELBO (nats per sentence, beta = 1)",
    "reconstruction": "reconstruction (nats per sentence)",
    "kl": "KL (nats per sentence)",
    "ppl_bound": "perplexity (upper bound, from the ELBO)",
    "active_units": "active units",
    "mutual_information": "mutual information I(x; z) (nats)",
    "sentences": "validation sentences",
    "tokens": "validation tokens",
}
_WHAT = {
    "vae": "a sentence variational autoencoder (Bowman et al. 2016, \"Generating Sentences from "
           "a Continuous Space\"): {encoder} encoder maps a sentence to a Gaussian posterior over a "
           "latent code z, and {decoder} decoder generates the sentence back from z",
    "lm": "{decoder} language model: the sentence VAE's decoder without a latent code (the "
          "baseline of Bowman et al. 2016); it samples sentences but has no latent space",
}


def _articled(model: Any) -> dict[str, str]:
    """``encoder``, ``decoder``: "an RNN" or "a transformer"."""
    name = {"rnn": "an RNN", "transformer": "a transformer"}
    return {"encoder": name[model.encoder], "decoder": name[model.decoder]}


def _sizes(model: Any) -> str:
    """The sizes row: an RNN's hidden sizes; a transformer's layers, heads and z's way in."""
    if not model.uses_transformer():
        return (f"| embedding / encoder / decoder sizes | {model.embed_dim} / "
                f"{model.encoder_hidden_dim} / {model.decoder_hidden_dim} |")
    sizes = (f"| sizes | embedding {model.embed_dim}, layers {model.encoder_layers} / "
             f"{model.decoder_layers}, {model.heads} heads")
    if model.uses_rnn():
        sizes += f", RNN hidden {model.encoder_hidden_dim} / {model.decoder_hidden_dim}"
    if model.decoder == "transformer" and model.model_type == "vae":
        sizes += f", z by {model.z_conditioning}"
    return sizes + " |"


def _front_matter(config: Any) -> str:
    data = config.data
    front: dict[str, Any] = {
        "library_name": "textvae",
        "tags": ["textvae", "sentence-vae", "text-generation",
                 *(["transformer"] if config.model.uses_transformer() else []),
                 *([config.model.rnn_type] if config.model.uses_rnn() else []),
                 "vae" if config.model.model_type == "vae" else "language-model"],
    }
    if data.source == "hf" and data.hf_name and not data.hf_data_files:
        front["datasets"] = [data.hf_name]
    return f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n"


def _data(config: Any) -> str:
    data = config.data
    if data.source == "grammar":
        return (f"textvae's built-in grammar corpus ({data.grammar_size:,} sentences, seed "
                f"{data.grammar_seed})")
    if data.source == "hf":
        return f"the Hugging Face dataset `{data.hf_name}`" + (f" ({data.hf_config})" if data.hf_config else "")
    return f"the text file `{data.train_path}`"


def _figures(valid: dict[str, Any] | None) -> list[str]:
    if not valid:
        return ["No validation figures were recorded with this checkpoint."]
    numbers = {k: v for k, v in valid.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    keys = [k for k in _FIGURES if k in numbers] + sorted(k for k in numbers if k not in _FIGURES)
    rows = ["| figure | value |", "|---|---|"]
    for key in keys:
        value = numbers[key]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
        rows.append(f"| {_FIGURES.get(key, key)} | {shown} |")
    return rows


def model_card(config: Any, meta: dict[str, Any], *, vocab_size: int, latent_dim: int | None,
               name: str, title: str | None = None, prior_components: int | None = None,
               prior_note: str | None = None) -> str:
    """The text of ``README.md`` for a shareable folder.

    Args:
        config: the run config (:class:`~textvae.text.run.config.Config`).
        meta: the checkpoint's meta.json (``step``, ``epoch``, ``valid``, ``command``).
        vocab_size: V.
        latent_dim: Z, or None for the LM baseline.
        name: what to pass to ``textvae.from_pretrained`` (a repo id, or the folder).
        title: the card's heading (default ``name``).
        prior_components: C of the aggregate prior the folder holds, or None.
        prior_note: why the folder holds no aggregate prior, when it holds none though the
            model is a VAE.

    Returns:
        Markdown with YAML front matter.
    """
    model = config.model
    kind = model.model_type
    command = meta.get("command")
    lines = [
        _front_matter(config),
        f"# {title or name}",
        "",
        f"A textvae model: {_WHAT[kind].format(**_articled(model))}.",
        "",
        "| | |",
        "|---|---|",
        f"| model type | `{kind}` ({model.describe()}"
        + (", bidirectional encoder" if model.bidirectional and kind == "vae" else "") + ") |",
    ]
    if latent_dim is not None:
        lines.append(f"| latent size | {latent_dim} |")
    lines += [
        f"| vocabulary | {vocab_size:,} ({config.data.tokenizer.kind} tokenizer) |",
        _sizes(model),
        f"| training data | {_data(config)} |",
        f"| trained for | {meta.get('step', '?')} steps |",
        "",
        "## Training",
        "",
        "The command that trained it (the whole config is in `config.yaml`):"
        if command else "The training command was not recorded; the whole config is in `config.yaml`.",
    ]
    if command:
        lines += ["", "```bash", command, "```"]
    lines += ["", "## Validation", "", *_figures(meta.get("valid")), "", "## Use", "", "```python",
              "import textvae", "", f"tv = textvae.from_pretrained({json.dumps(name)})"]
    if kind == "vae":
        prior = "standard" if prior_components is None else "aggregate"
        examples = ('["the dog barked .", "the cats ran ."]' if config.data.source == "grammar"
                    else '["...", "..."]  # two sentences in the language of the training data')
        lines += [f'print(tv.sample(5, prior="{prior}", seed=0))',
                  f"sentences = {examples}",
                  "mu, logvar = tv.encode(sentences)  # (2, Z) each",
                  "print(tv.reconstruct(sentences))",
                  "print(tv.interpolate(sentences[0], sentences[1], steps=5))"]
    else:
        lines.append("print(tv.sample(5, seed=0))")
    lines += ["```", "", "On the command line, every `textvae` command takes the downloaded folder "
              "with `-c`, e.g. `textvae sample -c FOLDER --n 5`. Requires `pip install textvae` "
              "(and `huggingface_hub` for a Hub repo id)."]
    if kind == "vae":
        lines += ["", "## Aggregate prior", ""]
        lines.append(
            f"`aggregate_prior.safetensors` holds a {prior_components}-component diagonal Gaussian "
            "mixture fitted to the posterior means of training sentences (Ghosh et al. 2020): "
            '`sample(prior="aggregate")` draws from it and needs no training data.'
            if prior_components is not None else
            f"This folder holds no aggregate prior: {prior_note or 'none was fitted'}. "
            '`sample(prior="aggregate")` needs one: fit it where the training data is, with '
            "`textvae fit-prior -c FOLDER`, or sample from the standard prior."
        )
    return "\n".join(lines) + "\n"
