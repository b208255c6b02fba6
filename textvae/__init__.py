"""textvae: variational autoencoders over text, with image VAEs for parity."""

__version__ = "0.1.0"
