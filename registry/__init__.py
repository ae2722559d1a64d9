"""hubcli's storage layer: schema, migrations, content-addressed blob store, queries.

Imports neither torch, transformers, textual nor hubcli (a test checks it).
"""

from registry.errors import AdapterExists, AdapterNotFound, RegistryError, SchemaTooNew, StoreCorrupt
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
    "Remote",
    "SchemaTooNew",
    "StoreCorrupt",
    "Tag",
    "VerifyReport",
    "content_digest",
    "default_home",
    "open_registry",
]
