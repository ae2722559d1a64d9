"""Hub tokens never reach a screen, a log or a file: ``redact`` blanks them out of any text.

A Hub that fails may echo what it was sent (an ``Authorization`` header in an error body, a URL
with a token), and ``huggingface_hub`` and httpx put the server's words in their exceptions. So
every place that renders an error passes its text through ``redact`` (the CLI's error line and
``HUBCLI_DEBUG`` traceback, the TUI's error dialog and jobs panel, the Hub error mapping).
It knows the token hubcli would send (``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, the token file
``hf auth login`` writes) and the shapes of tokens in general (``hf_…``, ``Bearer …``,
``Authorization: …``), so a token it was never given is blanked too. Only the standard library:
the CLI's fast start imports it.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

REDACTED = "***"

_TOKEN_SHAPES = re.compile(
    r"hf_[A-Za-z0-9]{8,}"  # Hugging Face user and org tokens
    r"|(?i:authorization)(['\"]?\s*[:=]\s*['\"]?)(?:Bearer\s+)?[^\s'\",;}]+"  # the header, any quoting
    r"|Bearer\s+[^\s'\",;}]+"  # the header's value alone
)


def _token_file() -> Path:
    """Where ``hf auth login`` keeps the token (huggingface_hub's ``HF_TOKEN_PATH`` rules)."""
    if path := os.environ.get("HF_TOKEN_PATH"):
        return Path(path)
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home) / "token"


def known_tokens() -> list[str]:
    """The tokens this process could send, longest first (one may contain another)."""
    tokens = {os.environ.get(name, "").strip() for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    with contextlib.suppress(OSError):  # no token file: nothing more to blank
        tokens.add(_token_file().read_text(encoding="utf-8", errors="replace").strip())
    return sorted((token for token in tokens if len(token) >= 4), key=len, reverse=True)


def _blank(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[:2] == "hf":
        return REDACTED
    if match.group(1) is not None:  # Authorization: value -> Authorization: ***
        return text[: match.end(1) - match.start(0)] + REDACTED
    return text.split(None, 1)[0] + " " + REDACTED  # Bearer value -> Bearer ***


def redact(text: str) -> str:
    """``text`` with every token blanked to ``***``."""
    for token in known_tokens():
        text = text.replace(token, REDACTED)
    return _TOKEN_SHAPES.sub(_blank, text)
