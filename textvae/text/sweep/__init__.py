"""``textvae sweep``: a small grid across the rate dial on the user's corpus, trained within a
time budget, evaluated and pictured, with the configs it recommends (docs/training.md,
"Sweeping the rate on your corpus").

- :mod:`.grid`: the sweep's arguments, its points and each point's config (pure);
- :mod:`.rows`: one point's row of figures from its evaluation report, and the printed table
  (pure);
- :mod:`.choose`: the rules that pick the point for interpolation and the one for likelihood
  (pure);
- :mod:`.run`: training, evaluating and resuming the points, and writing the outputs;
- :mod:`.picture`: the rate-distortion PNG and the HTML report.

Import from the modules: this file imports nothing, so that the command line stays torch-free.
"""
