"""A trained labelled sentence model (conditional VAE or M2) for use: classify, generate with a
requested label, and transfer one attribute of a sentence while keeping the rest.

:class:`LabelledTextVAE` is a :class:`~textvae.text.api.model.TextVAE` whose decoder also reads the
labels. Every inherited method still works: encoding uses the labels given for it or, without them,
the model's own guess (:meth:`LabelledTextVAE.classify`); decoding uses the labels asked for, and
draws any factor not asked for from the uniform prior p(y) (so ``sample(n)`` with no label samples
the marginal p(x) = sum_y p(y) p(x | y)).

Shapes: S = sentences, F = factors, Z = latent size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import InputError, NoLatentSpaceError
from textvae.core.label_sets import LabelSet
from textvae.text.api.inputs import label_request
from textvae.text.api.model import CHUNK, TextVAE
from textvae.text.data.batching import collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.models.label_posterior import label_posteriors
from textvae.text.models.labelled import LabelledSentenceVAE
from textvae.text.run.config import Config

LabelRequest = Mapping[str, str] | Sequence[str] | str | None


class LabelledTextVAE(TextVAE):
    """A labelled model with its tokenizer and label set (build it with :func:`textvae.load`).

    Attributes:
        labelled: the :class:`LabelledSentenceVAE` (``model`` is its inner sentence VAE).
        label_set: the factors and values it was trained with.
    """

    def __init__(self, labelled: LabelledSentenceVAE, tokenizer: Tokenizer, config: Config,
                 label_set: LabelSet, **kwargs: Any) -> None:
        super().__init__(labelled.vae, tokenizer, config, **kwargs)
        self.labelled = labelled.to(self.device).eval()
        self.label_set = label_set
        self._encode_labels: Tensor | None = None  # (S, F) for the next encode, else inferred
        self._decode_labels: dict[int, int] | Tensor | None = None  # fixed factors, or (rows, F)

    def __repr__(self) -> str:
        return f"Labelled{super().__repr__()[:-1]}, labels={self.label_set.to_dict()})"

    # ------------------------------------------------------------------------- labels

    def parse_labels(self, request: LabelRequest) -> dict[int, int]:
        """``{"tense": "past"}``, ``["tense=past"]`` or ``"past"`` (one factor) -> factor index ->
        class id. An unknown factor or value is one error listing the known ones."""
        request = label_request(request)
        if not request:
            return {}
        chosen = self.label_set.parse(request)
        return {self.label_set.names.index(name): value for name, value in chosen.items()}

    def classify(self, sentences: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """Per sentence, factor -> value -> probability (M2: q(y | x) of its one factor; a
        conditional VAE: Bayes' rule with its bound, every factor)."""
        ids = self.token_ids(sentences)
        probs = label_posteriors(self.labelled, ids, self.tokenizer, device=self.device, batch_size=CHUNK)
        out = []
        for row in range(len(ids)):
            out.append({name: dict(zip(values, p[row].tolist(), strict=True))
                        for (name, values), p in zip(self.label_set.factors.items(), probs, strict=True)
                        if p is not None})
        return out

    def _inferred(self, ids: Sequence[Sequence[int]]) -> Tensor:
        """(S, F) the most probable value of each factor (M2 knows one; other factors: 0)."""
        rows = [list(row) for row in ids]
        probs = label_posteriors(self.labelled, rows, self.tokenizer, device=self.device, batch_size=CHUNK)
        columns = [torch.zeros(len(ids), dtype=torch.long) if p is None else p.argmax(1) for p in probs]
        return torch.stack(columns, 1).to(self.device)

    @contextmanager
    def _labels(self, encode: Tensor | None = None, decode: dict[int, int] | Tensor | None = None) -> Iterator[None]:
        self._encode_labels, self._decode_labels = encode, decode
        try:
            yield
        finally:
            self._encode_labels = self._decode_labels = None

    # ------------------------------------------------------------------------- use

    def sample(self, n: int, *, label: LabelRequest = None, **kwargs: Any) -> Any:
        """:meth:`TextVAE.sample` with the labels ``label`` asks for (other factors drawn from
        the uniform prior with the same seed)."""
        with self._labels(decode=self.parse_labels(label)):
            return super().sample(n, **kwargs)

    def iter_sample(self, n: int, *, label: LabelRequest = None, **kwargs: Any) -> Iterator[Any]:
        """:meth:`TextVAE.iter_sample` with the labels ``label`` asks for (checked now)."""
        fixed = self.parse_labels(label)
        return self._decoding_with(super().iter_sample(n, **kwargs), fixed)

    def _decoding_with(self, rows: Iterator[Any], fixed: dict[int, int]) -> Iterator[Any]:
        with self._labels(decode=fixed):  # held while the lazy rows are decoded
            yield from rows

    def transfer(self, sentences: Sequence[str], label: LabelRequest, *,
                 source_label: LabelRequest = None, **options: Any) -> list[str]:
        """Encode each sentence with its own labels (``source_label``, else inferred), then decode
        the posterior mean with the factors ``label`` names changed and the others kept.
        Decoding options as :meth:`decode` (greedy by default)."""
        change = self.parse_labels(label)
        if not change:
            raise InputError("transfer needs a label to change to, e.g. tense=past")
        given = self.parse_labels(source_label)
        ids = self.token_ids(sentences)
        if len(given) == len(self.label_set.sizes):  # nothing left to infer
            source = torch.tensor([[given[f] for f in range(len(given))]] * len(ids), device=self.device)
        else:
            source = self._inferred(ids)
            for factor, value in given.items():
                source[:, factor] = value
        target = source.clone()
        for factor, value in change.items():
            target[:, factor] = value
        return self.transfer_labels(ids, source, target, **options)

    def transfer_labels(self, ids: Sequence[Sequence[int]], source: Tensor, target: Tensor,
                        **options: Any) -> list[str]:
        """:meth:`transfer` of token-id lists, with (S, F) class ids per sentence: encoded
        with ``source``, decoded with ``target``."""
        with self._labels(encode=source.to(self.device)):
            mu, _ = self.encode_ids(ids)
        with self._labels(decode=target.to(self.device)):
            return self._decode_with(mu, len(ids), self._generator(options.pop("seed", None)), options)

    # ------------------------------------------------------------------------- the hooks

    def _state_to_share(self) -> dict[str, Tensor]:
        return self.labelled.state_dict()

    def _prior_to_share(self, target: Any, log: Any) -> tuple[None, str]:
        return None, "a labelled model samples z from N(0, I) with the labels asked for"

    def aggregate_prior(self, *args: Any, **kwargs: Any) -> Any:
        raise InputError("the aggregate prior is not available for a labelled run: it samples z from "
                         "N(0, I) and the labels asked for (sample --label)")

    fit_aggregate_prior = aggregate_prior

    @torch.no_grad()
    def encode_ids(self, ids: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
        """q(z | x, y) with the labels set for this call, else the inferred ones."""
        if not ids:
            return super().encode_ids(ids)  # the empty (0, Z) pair
        labels = self._encode_labels if self._encode_labels is not None else self._inferred(ids)
        tok = self.tokenizer
        mus, logvars = [], []
        for start in range(0, len(ids), CHUNK):
            batch = collate(ids[start:start + CHUNK], bos_id=tok.bos_id, eos_id=tok.eos_id,
                            pad_id=tok.pad_id).to(self.device)
            mu, logvar = self.labelled.encode(batch.ids[:, 1:], batch.lengths, labels[start:start + CHUNK])
            mus.append(mu)
            logvars.append(logvar)
        return torch.cat(mus), torch.cat(logvars)

    def _run_decoder(self, z: Tensor | None, rows: int, generator: torch.Generator | None, **options: Any
                     ) -> list[list[int]]:
        if z is None:  # never: a labelled model is a VAE (build_labelled_model refuses an LM)
            raise NoLatentSpaceError("a labelled model decodes from latent codes, and none were given")
        labels = self._decode_labels
        if not isinstance(labels, Tensor):
            labels = self._draw_labels(rows, labels or {}, generator)
        return super()._run_decoder(self.labelled.decoder_latent(z, labels), rows, generator, **options)

    def _draw_labels(self, rows: int, fixed: dict[int, int], generator: torch.Generator | None) -> Tensor:
        """(rows, F): the fixed factors, and uniform draws of the others."""
        columns = []
        for factor, size in enumerate(self.label_set.sizes):
            if factor in fixed:
                columns.append(torch.full((rows,), fixed[factor], device=self.device))
            else:
                columns.append(torch.randint(size, (rows,), generator=generator, device=self.device))
        return torch.stack(columns, 1)
