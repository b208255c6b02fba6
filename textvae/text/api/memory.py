"""How much memory a generation call that keeps all its rows needs, and how much the machine
has free: the up-front check that refuses, in one line and before any work, a request that
would otherwise grow until the kernel kills the process (``interpolate`` with 100,000,000
steps, say). The streaming methods (``iter_sample``, ``iter_interpolate``) hold one chunk and
need no check.
"""

from __future__ import annotations

import os

from textvae.core.errors import InputError

# What one kept row holds, for estimate_generation_bytes. Token ids live for one chunk only;
# what stays is the sentence, a Python string: its characters (a word and its space) and about
# 50 bytes of header and list slots. Measured with tracemalloc on a grammar-corpus model whose
# decodes ran to max_len: 114 and 384 bytes a row for 13 and 64 tokens (5.3 bytes a token),
# where this gives 204 and 612; 8 bytes a token leaves room for longer words.
FLOAT_BYTES = 4  # a float32 latent coordinate
TOKEN_BYTES = 8  # the characters of a generated token
ROW_BYTES = 100  # a sentence's string header and the list slots that hold it
FALLBACK_MEMORY_BYTES = 4 * 1024**3  # when the operating system does not say what is free


def estimate_generation_bytes(
    rows: int, *, latent_dim: int, max_len: int, latent_copies: int = 1
) -> int:
    """The memory a generation call that keeps every row needs for them, in bytes:
    ``rows * (latent_copies * latent_dim * 4 + max_len * 8 + 100)``.

    Each row holds ``latent_copies`` float32 codes of ``latent_dim`` (the returned z and the
    chunks it is joined from, or the repeated posterior parameters of a reconstruction) and its
    sentence, of at most ``max_len`` tokens. The decoder's state, its logits and the token ids
    are not counted: they exist for one chunk at a time, the same for any ``rows``, and a
    streaming call needs them too.

    Args:
        rows: rows decoded (sentences x decodes, or points of a path).
        latent_dim: Z (0 for the LM baseline).
        max_len: most generated tokens per row.
        latent_copies: (rows, Z) tensors held at once.

    Returns:
        Bytes.
    """
    per_row = latent_copies * latent_dim * FLOAT_BYTES + max_len * TOKEN_BYTES + ROW_BYTES
    return rows * per_row


def available_memory_bytes() -> int:
    """Memory this process can still take, in bytes: Linux's ``MemAvailable`` (free memory plus
    caches the kernel can drop), else the free pages ``os.sysconf`` counts, else
    :data:`FALLBACK_MEMORY_BYTES`; lowered to the room left under a cgroup's limit (a
    container's), which is what the kernel kills a process for crossing."""
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024  # given in kB
    except (OSError, ValueError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            free = FALLBACK_MEMORY_BYTES
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
         "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as fh, open(usage_file, encoding="ascii") as gh:
                free = min(free, int(fh.read()) - int(gh.read()))
            break
        except (OSError, ValueError):  # no such cgroup, or no limit ("max")
            continue
    return max(free, 0)


def format_bytes(n_bytes: int) -> str:
    """``61 GB``, ``9.1 GB``, ``730 MB`` (decimal units, as free memory is usually quoted)."""
    if n_bytes >= 10e9:
        return f"{n_bytes / 1e9:,.0f} GB"
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{max(n_bytes / 1e6, 1):.0f} MB"


def check_fits_in_memory(what: str, need: int, advice: str) -> None:
    """Refuse work that needs more than :func:`available_memory_bytes`.

    Args:
        what: the call, as the message names it (``interpolate with steps=100000000``).
        need: its estimate in bytes (:func:`estimate_generation_bytes`).
        advice: what to do instead.

    Raises:
        InputError: ``WHAT needs about N GB of memory; this machine has M GB free; ADVICE``.
    """
    free = available_memory_bytes()
    if need > free:
        raise InputError(
            f"{what} needs about {format_bytes(need)} of memory; this machine has "
            f"{format_bytes(free)} free; {advice}"
        )
