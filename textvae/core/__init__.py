"""Shared by the text and image sides; imports neither (docs/architecture.md)."""
