"""Verifying the store: ``hubcli verify`` and the TUI's Verify action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from registry import Registry, VerifyReport


def verify(registry: Registry, progress: ProgressCallback = ignore_progress) -> VerifyReport:
    """Re-hash every stored file (after cleaning up what interrupted work left behind)."""
    progress(Progress("re-hashing every stored file"))
    return registry.verify()
