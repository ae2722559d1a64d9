"""Errors raised by the storage layer.

Each carries a short ``title`` and a one-line ``message`` so the CLI and TUI can show them
without a traceback. The registry does not import hubcli, so it has its own small hierarchy.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class: something the user can act on went wrong in the registry."""

    title = "Registry error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdapterNotFound(RegistryError):
    title = "Adapter not found"


class AdapterExists(RegistryError):
    """A name that is taken: the registry never replaces what it holds under a name."""

    title = "Adapter exists"


def name_taken(name: str, kind: str = "adapter") -> AdapterExists:
    """The one refusal of a taken name, whoever asks for it (add, pull, train, merge, stitch
    --save): what to do next depends on the kind, not on the command."""
    article = "an" if kind[0] in "aeiou" else "a"
    remedy = f"another name or `hubcli rm {name}` first" if kind == "adapter" else "another name"
    return AdapterExists(
        f"{article} {kind} named {name!r} already exists: hubcli never replaces what is already "
        f"registered, so choose {remedy}"
    )


class StoreCorrupt(RegistryError):
    title = "Blob store problem"


class BlobDamaged(StoreCorrupt):
    """A registered file whose blob is missing, has the wrong size or no longer hashes to its
    sha256: raised when the file is read for use, so damage is never stitched, exported or pushed."""

    title = "Damaged file"


class RegistryUnavailable(RegistryError):
    """The registry's folder or database cannot be used as it is (a file where the folder should
    be, a damaged or foreign database, a read-only or full disk): the message names the path and
    what to do, and nothing is written."""

    title = "Registry unavailable"


class SchemaTooNew(RegistryError):
    title = "Registry schema is newer than this hubcli"
