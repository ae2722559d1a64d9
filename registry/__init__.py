"""hubcli's storage layer: schema, migrations, content-addressed blob store, queries.

Imports neither torch, transformers, textual nor hubcli (a test checks it).

Importing the package is cheap: the names below load their module (and with it sqlalchemy and
sqlmodel) on first use, so ``registry.faults`` and ``registry.errors`` serve commands such as
``hubcli --help`` that never open the database. ``from registry import Registry`` works as
before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from registry.errors import (
    AdapterExists,
    AdapterNotFound,
    RegistryError,
    RegistryUnavailable,
    SchemaTooNew,
    StoreCorrupt,
)

if TYPE_CHECKING:
    from registry.registry import (
        AddResult,
        NewAdapter,
        NewFile,
        Registry,
        VerifyReport,
        content_digest,
        default_home,
        open_registry,
    )
    from registry.schema import Adapter, AdapterFile, Blob, Composition, Evaluation, Remote, Tag

_LAZY = {
    **dict.fromkeys(
        (
            "AddResult",
            "NewAdapter",
            "NewFile",
            "Registry",
            "VerifyReport",
            "content_digest",
            "default_home",
            "open_registry",
        ),
        "registry.registry",
    ),
    **dict.fromkeys(
        ("Adapter", "AdapterFile", "Blob", "Composition", "Evaluation", "Remote", "Tag"),
        "registry.schema",
    ),
}

__all__ = [
    "Adapter",
    "AdapterExists",
    "AdapterFile",
    "AdapterNotFound",
    "AddResult",
    "Blob",
    "Composition",
    "Evaluation",
    "NewAdapter",
    "NewFile",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "Remote",
    "SchemaTooNew",
    "StoreCorrupt",
    "Tag",
    "VerifyReport",
    "content_digest",
    "default_home",
    "open_registry",
]


def __getattr__(name: str) -> Any:
    """Load a lazily exported name from its module (PEP 562) and keep it here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
