"""Where the Hub is and how to talk to it, read from the environment at call time.

``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE`` once, at
import; a long-lived process (the TUI) or a test that changes them later would be ignored. So
hubcli reads them itself on every call and passes the values explicitly.
"""

from __future__ import annotations

import os

DEFAULT_ENDPOINT = "https://huggingface.co"
TRUE_VALUES = ("1", "true", "yes", "on")


def endpoint(explicit: str | None = None) -> str:
    """``--endpoint``, else ``HF_ENDPOINT``, else huggingface.co (without a trailing slash)."""
    return (explicit or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks to use the local cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE_VALUES


def cache_dir() -> str | None:
    """``HF_HUB_CACHE`` as set now; None lets huggingface_hub use its default."""
    return os.environ.get("HF_HUB_CACHE") or None
