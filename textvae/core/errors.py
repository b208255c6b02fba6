"""User-facing errors.

Every error that a user can cause with bad input (a config, a corpus, a checkpoint) is a
:class:`TextVAEError`. The CLI prints its message on one line, without a traceback (unless
``--debug``), and exits non-zero. Library callers can catch the subclasses.
"""


class TextVAEError(Exception):
    """Base class: an error whose message alone tells the user what went wrong and what to do."""


class ConfigError(TextVAEError):
    """A config file or ``--set`` override is invalid (unknown key, wrong type, invalid choice)."""


class DataError(TextVAEError):
    """A corpus cannot be read or is unusable (missing, empty, invalid UTF-8, ...)."""


class CheckpointError(TextVAEError):
    """A checkpoint directory is missing, incomplete, or does not match what is asked of it."""


class InputError(TextVAEError, ValueError):
    """An input sentence or argument cannot be used (empty, all-unknown, wrong count, ...)."""


class NoLatentSpaceError(TextVAEError):
    """A latent-space operation was asked of the LM baseline, which has no latent space."""


class FileWriteError(TextVAEError, OSError):
    """A file could not be written (a full disk, a missing or read-only directory); the previous
    file, if any, is left as it was."""
