"""Image objectives and measures: ELBO, disentanglement, M2's loss, restoration and checkerboard scores."""
