"""Counting the bytes of Hub transfers, reported as ``hubcli.progress`` events.

``huggingface_hub`` reports download progress only through a ``tqdm`` class. ``ByteCounter``
builds such a class that draws nothing, counts the bytes that really arrive and forwards each
update as a ``Progress`` event, so callers never deal with tqdm.
"""

from __future__ import annotations

import threading
from typing import Any

from hubcli.progress import Progress, ProgressCallback


class ByteCounter:
    """Counts downloaded bytes through a tqdm class handed to ``huggingface_hub``.

    ``snapshot_download`` feeds every received chunk to several byte bars (transfer and
    reconstruction); the bytes downloaded are the largest count among them, so the figure stays
    right whichever bar a future version drops.
    """

    def __init__(self, on_progress: ProgressCallback, stage: str = "downloading") -> None:
        self._on_progress = on_progress
        self._stage = stage
        self._lock = threading.Lock()
        self._bars: list[Any] = []

    @property
    def bytes(self) -> int:
        with self._lock:
            return max((bar.n for bar in self._bars), default=0)

    def _total(self) -> int | None:
        with self._lock:
            totals = [bar.total for bar in self._bars if bar.total]
        return max(totals) if totals else None

    def tqdm_class(self) -> type:
        """A tqdm subclass bound to this counter (imports tqdm only when asked)."""
        from tqdm import tqdm

        counter = self

        class _CountingBar(tqdm):  # type: ignore[misc, valid-type]
            """A real tqdm (so every attribute huggingface_hub touches exists) drawing nowhere."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.pop("name", None)
                kwargs.update(file=_NOWHERE, disable=False, mininterval=3600)
                super().__init__(*args, **kwargs)
                self.counts_bytes = kwargs.get("unit") == "B"
                if self.counts_bytes:
                    with counter._lock:
                        counter._bars.append(self)

            def update(self, n: float | None = 1) -> bool | None:
                shown = super().update(n)
                if self.counts_bytes:
                    counter._on_progress(Progress(counter._stage, counter.bytes, counter._total()))
                return shown

        return _CountingBar


class _Nowhere:
    """A text stream that discards everything (tqdm needs one to draw on)."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        """Nothing buffered."""


_NOWHERE = _Nowhere()
