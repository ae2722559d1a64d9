"""Per-invocation state: which registry the command works on, opened only when needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry import Registry


@dataclass
class CliState:
    home: Path | None = None
    url: str | None = None
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            from registry import open_registry

            self._registry = open_registry(self.home, self.url)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None


state = CliState()
