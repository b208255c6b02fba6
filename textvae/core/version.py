"""The package version, in a leaf module so that code anywhere in textvae can read it."""

__version__ = "0.1.0"
