"""Hub failures as hubcli errors: one line that says what went wrong and what to do.

``huggingface_hub`` raises HTTP-level exceptions with multi-line messages and URLs; the CLI and
the TUI need the typed, one-line ``HubcliError`` everything else in hubcli raises. All calls to
the Hub go through ``hub_errors`` so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hubcli.plugin_api import HubcliError
from hubcli.secrets import redact

LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"


class HubError(HubcliError):
    """Base class of the errors of pull, push and search."""

    title = "Hub error"


class HubNotFound(HubError):
    """A repository, revision or file that does not exist (or is hidden from us)."""

    title = "Not found on the Hub"


class HubAuthError(HubError):
    """The Hub refused our credentials, or wants some."""

    title = "Hub authentication"


class HubUnavailable(HubError):
    """The Hub could not be reached or failed, or offline mode lacks a cached copy."""

    title = "Hub unavailable"


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@contextmanager
def hub_errors(repo_id: str, revision: str | None, endpoint: str) -> Iterator[None]:
    """Translate ``huggingface_hub`` and transport exceptions raised inside the block."""
    import httpx2
    from huggingface_hub import errors as hf

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except hf.RevisionNotFoundError:
        raise HubNotFound(f"{repo_id}: revision {revision!r} not found on {endpoint}") from None
    except hf.GatedRepoError:
        raise HubAuthError(f"{repo_id} is gated: request access on {endpoint}, then {LOGIN_HINT}") from None
    except hf.RepositoryNotFoundError as exc:
        if _status(exc) == 401:
            raise HubAuthError(
                f"{repo_id}: not found on {endpoint}, or private and you are not logged in ({LOGIN_HINT})"
            ) from None
        raise HubNotFound(f"{repo_id}: repository not found on {endpoint}") from None
    except hf.RemoteEntryNotFoundError as exc:
        raise HubNotFound(f"{where}: file not found on {endpoint} ({exc.response.url.path})") from None
    except hf.LocalEntryNotFoundError:
        raise HubUnavailable(
            f"{where} is not in the local Hugging Face cache and the Hub cannot be used "
            "(offline mode or no connection): pull it once while online"
        ) from None
    except hf.HFValidationError as exc:
        raise HubNotFound(f"{repo_id!r} is not a valid repository id: {exc}") from None
    except hf.HfHubHTTPError as exc:
        status = _status(exc)
        if status in (401, 403):
            raise HubAuthError(
                f"{where}: the Hub at {endpoint} refused access (HTTP {status}; {LOGIN_HINT})"
            ) from None
        server_message = getattr(exc, "server_message", None) or ""
        detail = f": {redact(server_message.splitlines()[0])}" if server_message.strip() else ""
        raise HubUnavailable(f"{where}: the Hub at {endpoint} answered HTTP {status}{detail}") from None
    except httpx2.HTTPError as exc:
        raise HubUnavailable(
            f"{where}: connection to {endpoint} failed ({type(exc).__name__}: {redact(str(exc))}); "
            "run the command again to resume"
        ) from None
    except OSError as exc:
        if "Consistency check failed" in str(exc):
            raise HubUnavailable(
                f"{where}: a download from {endpoint} was cut short; run the command again to resume"
            ) from None
        raise
