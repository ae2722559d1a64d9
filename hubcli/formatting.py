"""How adapters' sizes, counts and methods read for people: shared by the CLI, the TUI and the
model cards, so one adapter reads the same everywhere."""

from __future__ import annotations


def architecture_label(architecture: str, variant: str | None) -> str:
    """``lora``, or ``bottleneck (seq_bn)`` when the variant says more than the architecture."""
    return f"{architecture} ({variant})" if variant and variant != architecture else architecture


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def human_count(count: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)
