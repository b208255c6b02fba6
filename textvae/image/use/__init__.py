"""Using trained image runs: generation, evaluation reports, classes, judges, prior samples and restoration."""
