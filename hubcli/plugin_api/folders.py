"""A safe, read-only view of a folder that may hold an adapter.

Architecture plugins look at adapter files only through this class: every path is checked to
stay inside the folder (no ``..``, no absolute paths, no symlink that leads out), JSON errors
name the file and position, and weight headers are read without torch.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from hubcli.plugin_api.errors import AdapterFormatError, UnsafeInputError
from hubcli.plugin_api.tensors import TensorInfo, read_safetensors_header

MAX_JSON_BYTES = 16 * 1024 * 1024


class AdapterFolder:
    """Files of one folder, addressed by relative POSIX paths."""

    def __init__(self, root: Path, label: str | None = None) -> None:
        root = Path(root)
        if not root.is_dir():
            raise AdapterFormatError(f"{root}: not a folder")
        self.root = root.resolve()
        self.label = label or str(root)

    def __repr__(self) -> str:
        return f"AdapterFolder({self.label!r})"

    def where(self, rel: str) -> str:
        """How to name a file of this folder in a message."""
        return f"{self.label.rstrip('/')}/{rel}"

    def path(self, rel: str) -> Path:
        """The real path of ``rel``, refusing anything that would leave the folder."""
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or "\\" in rel:
            raise UnsafeInputError(f"{self.where(rel)}: path escapes the adapter folder")
        full = self.root.joinpath(*pure.parts)
        resolved = full.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise UnsafeInputError(f"{self.where(rel)}: symlink points outside the adapter folder")
        return resolved

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Every regular file below the folder, as sorted relative paths."""
        found = []
        for entry in sorted(self.root.rglob("*")):
            rel = entry.relative_to(self.root).as_posix()
            if any(part.startswith(".") for part in PurePosixPath(rel).parts):
                continue  # .cache, .git, .huggingface: never adapter content
            target = self.path(rel)
            if target.is_file():
                found.append(rel)
        return tuple(found)

    def subfolders(self) -> list[str]:
        """Immediate sub-folders (for layouts with one adapter per sub-folder)."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def sub(self, rel: str) -> AdapterFolder:
        return AdapterFolder(self.path(rel), label=self.where(rel))

    def read_json(self, rel: str) -> dict[str, Any]:
        """A JSON object from ``rel``; errors name the file, line and column."""
        path = self.path(rel)
        if path.stat().st_size > MAX_JSON_BYTES:
            raise AdapterFormatError(f"{self.where(rel)}: too large for a config file")
        try:
            data = json.loads(path.read_bytes())
        except UnicodeDecodeError:
            raise AdapterFormatError(f"{self.where(rel)}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise AdapterFormatError(
                f"{self.where(rel)}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        if not isinstance(data, dict):
            raise AdapterFormatError(f"{self.where(rel)}: expected a JSON object, got {type(data).__name__}")
        return data

    def tensor_infos(self, rel: str) -> dict[str, TensorInfo]:
        """Names, dtypes and shapes in a safetensors file (no torch)."""
        return read_safetensors_header(self.path(rel), label=self.where(rel))
