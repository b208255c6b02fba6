"""The image models: VAE, AE, VQ-VAE, VQ-VAE-2, M2 and PixelCNN priors."""
