"""The text side: sentence VAEs, from corpora to generation (docs/architecture.md)."""
