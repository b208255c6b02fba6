"""Evaluation of a trained sentence model: the importance-weighted NLL pass (:mod:`.iw`), text
metrics of generated sentences (:mod:`.text_metrics`), the report of ``textvae evaluate``
(:mod:`.report`) and their defaults (:mod:`.settings`). The pure estimators they share with the
image side (importance weights, the bound, mutual information, active units) are
:mod:`textvae.core.metrics`'.

Import from the modules (``from textvae.text.evaluate.iw import iw_nll``): this file imports nothing,
so that the command line reads :mod:`.settings` without loading torch.
"""
