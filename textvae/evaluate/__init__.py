"""Evaluation of a trained sentence model: the importance-weighted NLL pass (:mod:`.iw`), text
metrics of generated sentences (:mod:`.text_metrics`) and the report of ``textvae evaluate``
(:mod:`.report`). The pure estimators they share with the image side (importance weights, the
bound, mutual information, active units) are :mod:`textvae.metrics`'.
"""

from textvae.evaluate.iw import DEFAULT_IW_SAMPLES, IWResult, iw_nll, iw_nll_reference
from textvae.evaluate.report import evaluate, evaluate_split, format_report, subset_indices
from textvae.evaluate.text_metrics import distinct_n, reconstruction_bleu, self_bleu

__all__ = [
    "DEFAULT_IW_SAMPLES",
    "IWResult",
    "distinct_n",
    "evaluate",
    "evaluate_split",
    "format_report",
    "iw_nll",
    "iw_nll_reference",
    "reconstruction_bleu",
    "self_bleu",
    "subset_indices",
]
