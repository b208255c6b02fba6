"""Training image models: the image, semi-supervised and prior trainers."""
