"""Checks of a block's spec arguments that several blocks need (sizes and weights given in a
spec such as ``split(a, b, sizes=[64, 64])``), for ``CompositionPlugin.check_arguments``.
Each raises ``SpecError`` naming the block and the argument."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubcli.plugin_api.errors import SpecError


def number_list_argument(block: str, key: str, args: Mapping[str, Any], children: int) -> tuple[float, ...]:
    """``args[key]`` as a list with one number per child."""
    value = args[key]
    if not isinstance(value, tuple):
        raise SpecError(f"{block}: {key} must be a list, e.g. {key}=[{', '.join(['1'] * children)}]")
    if len(value) != children:
        raise SpecError(f"{block}: {key} has {len(value)} entries for {children} children")
    return value


def sizes_argument(block: str, args: Mapping[str, Any], children: int, key: str = "sizes") -> tuple[int, ...]:
    """One positive whole number per child."""
    value = number_list_argument(block, key, args, children)
    if not all(isinstance(size, int) and size > 0 for size in value):
        raise SpecError(f"{block}: {key} must be positive whole numbers, got {list(value)}")
    return tuple(int(size) for size in value)


def flag_argument(block: str, key: str, args: Mapping[str, Any], default: bool) -> bool:
    """A 0/1 switch."""
    value = args.get(key, int(default))
    if value not in (0, 1) or isinstance(value, float):
        raise SpecError(f"{block}: {key} must be 0 or 1, got {value!r}")
    return bool(value)
