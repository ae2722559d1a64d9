"""Named crash points, so tests can kill a writer at exactly the moments that matter.

``HUBCLI_CRASH_AT=<point>`` makes the process SIGKILL itself when it reaches that point (the
first time; ``<point>:<n>`` for the n-th time). Unset — always, outside the crash-safety tests —
a checkpoint is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passes: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    target = os.environ.get("HUBCLI_CRASH_AT")
    if not target:
        return
    name, _, nth = target.partition(":")
    if name != point:
        return
    _passes[point] += 1
    if _passes[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
