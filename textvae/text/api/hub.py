"""The Hugging Face Hub, for shareable model folders (:meth:`TextVAE.save_pretrained`): fetch
one into the local cache, or upload one.

``huggingface_hub`` is an optional dependency (``pip install 'textvae[hub]'``; ``datasets``
brings it too) and is imported only here, only when a repo id is used. Fetching goes through
``snapshot_download``, so the Hub's own rules hold: the cache (``HF_HUB_CACHE``, else
``HF_HOME/hub``, read when ``huggingface_hub`` is first imported), ``HF_HUB_OFFLINE=1`` (the
cache only, no network), and a cached copy when the Hub cannot be reached.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from textvae.core.checkpoint import check_checkpoint_exists
from textvae.core.errors import CheckpointError, TextVAEError
from textvae.core.version import __version__

REPO_TYPE = "model"


def _hub() -> ModuleType:
    try:
        import huggingface_hub
    except ImportError:
        raise TextVAEError(
            "the Hugging Face Hub needs the huggingface_hub package: pip install 'textvae[hub]'"
        ) from None
    return huggingface_hub


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def download(repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
             token: str | bool | None = None) -> Path:
    """Fetch a model repo into the local Hub cache (or find it there) and return its folder.

    Args:
        repo_id: ``owner/name`` on the Hub.
        revision: a branch, tag or commit (default: the main branch).
        cache_dir: the cache to use instead of the Hub's default.
        token: a Hub token for a private repo (default: the saved login, if any).

    Returns:
        The snapshot folder (inside the cache; treat it as read-only).

    Raises:
        CheckpointError: a local path that is a symbolic link loop or leads nowhere, not a
            repo id, no such repo or revision, or the Hub cannot be reached
            (or ``HF_HUB_OFFLINE`` is set) and the cache has no copy; one line saying which.
        TextVAEError: ``huggingface_hub`` is not installed.
    """
    if os.path.lexists(repo_id):  # a local path that names nothing usable (a link loop, say)
        check_checkpoint_exists(repo_id)
    hub = _hub()
    from huggingface_hub import errors
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except errors.HFValidationError:
        raise CheckpointError(
            f"checkpoint not found: {repo_id} is not a local directory, nor a Hugging Face Hub "
            "repo id (owner/name)"
        ) from None
    where = f"{repo_id}" + (f" (revision {revision})" if revision else "")
    try:
        folder = hub.snapshot_download(
            repo_id, repo_type=REPO_TYPE, revision=revision, cache_dir=cache_dir, token=token,
            library_name="textvae", library_version=__version__,
        )
    except errors.RevisionNotFoundError:
        raise CheckpointError(f"the Hugging Face Hub repo {repo_id} has no revision {revision!r}") from None
    except (errors.RepositoryNotFoundError, errors.GatedRepoError):
        raise CheckpointError(
            f"{repo_id} is not a local directory, and the Hugging Face Hub has no model repo "
            "of that name that you may read (check the name; for a private repo pass token= or "
            "log in with `hf auth login`)"
        ) from None
    except errors.LocalEntryNotFoundError:
        cache = cache_dir or hub.constants.HF_HUB_CACHE
        why = ("HF_HUB_OFFLINE is set" if hub.constants.HF_HUB_OFFLINE
               else "the Hugging Face Hub cannot be reached")
        raise CheckpointError(
            f"{where} is not a local directory, {why}, and the Hub cache ({cache}) holds no copy "
            "of it; download it once with network access (or pass a local folder)"
        ) from None
    except Exception as err:  # noqa: BLE001 - the Hub's HTTP, network and cache errors, in one line
        raise CheckpointError(f"cannot fetch {where} from the Hugging Face Hub ({_reason(err)})") from None
    return Path(folder)


def upload(folder: str | os.PathLike[str], repo_id: str, *, private: bool | None = None,
           token: str | None = None, commit_message: str | None = None) -> str:
    """Create the model repo if needed (``exist_ok``) and upload ``folder`` to it as one commit.

    Args:
        folder: a folder written by :meth:`TextVAE.save_pretrained`.
        repo_id: ``owner/name`` (or ``name`` under your own account).
        private: make a new repo private (None: the Hub's default); an existing repo keeps its
            visibility.
        token: a Hub token with write access (default: the saved login).
        commit_message: default ``"Upload textvae model"``.

    Returns:
        The commit's URL.

    Raises:
        CheckpointError: the Hub refused (authentication, permissions) or cannot be reached.
    """
    api = _hub().HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type=REPO_TYPE)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), repo_type=REPO_TYPE,
            commit_message=commit_message or "Upload textvae model",
        )
    except Exception as err:  # noqa: BLE001 - the Hub's HTTP and network errors, in one line
        raise CheckpointError(
            f"cannot push {folder} to the Hugging Face Hub repo {repo_id} ({_reason(err)})"
        ) from None
    return str(getattr(commit, "commit_url", commit))
