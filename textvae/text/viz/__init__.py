"""Pictures of text runs: ``textvae plot`` and ``textvae report`` (docs/pictures.md).

- :mod:`.plots`: the figures (training curves, KL against the KL weight, latent PCA, KL per
  latent dimension), from a metrics file or tensors;
- :mod:`.latents`: the validation subset, its grammar factors, posteriors and PCA;
- :mod:`.run`: :func:`~textvae.text.viz.run.plot_run`, every picture of one run;
- :mod:`.page`: :func:`~textvae.text.viz.page.write_report`, the self-contained HTML report.

Import from the modules: this file imports nothing, so that the command line stays torch-free.
"""
